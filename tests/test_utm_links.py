"""Issue 19, item 1: UTM parameters on a message's links (`doctor --message FILE`, check `utm-links`).

The rewrite is tested by property (hypothesis) on arbitrary query strings and fragments:
it keeps the original bytes, never adds a key that is there, and a second pass changes
nothing. The check is tested through the CLI, against the stand-in Klaviyo (which must
not be asked anything for this check).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linesync_cli.core.message_walker import readable_place
from linesync_cli.core.utm_links import (
    UtmTags,
    add_utm,
    audit_document,
    link_kind,
    parse_suggest_utm,
    query_params,
    utm_state,
)
from linesync_cli.errors import UsageError
from tests.support.standin_cli import run_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "messages"
TAGS = UtmTags("line", "social", "spring sale")
SUGGEST = "source=line,medium=social,campaign=spring-sale"


# -- --suggest-utm -------------------------------------------------------------------------

def test_suggest_utm_reads_pairs_with_or_without_the_utm_prefix() -> None:
    assert parse_suggest_utm("source=line, medium=social ,campaign=spring") == UtmTags("line", "social", "spring")
    assert parse_suggest_utm("utm_source=line,utm_medium=m,utm_campaign=c,content=hero,term=shoes") == \
        UtmTags("line", "m", "c", "hero", "shoes")
    # A value may hold "=": only the first one splits.
    assert parse_suggest_utm("source=line,medium=m,campaign=a=b").campaign == "a=b"


@pytest.mark.parametrize(("text", "message"), [
    ("source=line,medium=social,campain=x", "unknown key 'campain'"),
    ("source=line,medium=,campaign=x", "medium has an empty value"),
    ("source=line,medium,campaign=x", "'medium' is not KEY=VALUE"),
    ("source=line,,medium=m,campaign=x", "empty pair"),
    ("source=line,source=web,medium=m,campaign=x", "source is given twice"),
    ("source=line,medium=m", "campaign missing"),
])
def test_suggest_utm_rejects_what_it_cannot_use(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_suggest_utm(text)


@pytest.mark.parametrize("value", ["source=line,medium=social,campain=x", "source=line,medium=,campaign=x",
                                   "source=line;medium=x;campaign=y"])
def test_a_bad_suggest_utm_exits_2_with_one_line_before_any_request(cli_env, klaviyo_standin, tmp_path, value):
    result = run_cli(["doctor", "--message", str(EXAMPLES / "flex-sale.json"), "--suggest-utm", value], env=cli_env)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: --suggest-utm: ") and lines[1].startswith("hint: ") and len(lines) == 2
    assert result.stdout == ""
    assert klaviyo_standin.requests == []  # doctor's other checks never started


def test_suggest_utm_needs_a_message(cli_env, klaviyo_standin):
    result = run_cli(["doctor", "--suggest-utm", SUGGEST], env=cli_env)
    assert result.exit_code == 2 and "--suggest-utm needs --message FILE" in result.stderr
    assert klaviyo_standin.requests == []


# -- the rewrite ---------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "fixed"), [
    ("https://s.example/sale", "https://s.example/sale?utm_source=line&utm_medium=social&utm_campaign=spring%20sale"),
    ("https://s.example/sale?", "https://s.example/sale?utm_source=line&utm_medium=social&utm_campaign=spring%20sale"),
    ("https://s.example/sale?a=1&", "https://s.example/sale?a=1&utm_source=line&utm_medium=social&utm_campaign=spring%20sale"),
    # The fragment stays last, as written; the query before it is not re-encoded (%7E, +, order).
    ("https://s.example/p?b=%7E+x&a=1#top", "https://s.example/p?b=%7E+x&a=1&utm_source=line&utm_medium=social"
     "&utm_campaign=spring%20sale#top"),
    ("https://s.example/#/cart?x=1", "https://s.example/?utm_source=line&utm_medium=social"
     "&utm_campaign=spring%20sale#/cart?x=1"),
    # Only what is missing is added, after what is there.
    ("https://s.example/?utm_campaign=c&utm_source=line", "https://s.example/?utm_campaign=c&utm_source=line"
     "&utm_medium=social"),
    # Percent-encoded keys are the same keys to analytics: not added again.
    ("https://s.example/?utm%5Fsource=line&utm_medium=m&utm_campaign=c", "https://s.example/?utm%5Fsource=line"
     "&utm_medium=m&utm_campaign=c"),
])
def test_add_utm_appends_only_what_is_missing(url: str, fixed: str) -> None:
    assert add_utm(url, TAGS) == fixed


def test_empty_and_miscased_keys_are_named_not_added_twice() -> None:
    url = "https://s.example/?utm_source=&UTM_Medium=x"
    state = utm_state(url)
    assert state.missing == ("utm_campaign",) and state.empty == ("utm_source",) and state.miscased == ("UTM_Medium",)
    assert add_utm(url, TAGS) == url + "&utm_campaign=spring%20sale"


def test_optional_content_and_term_are_added_when_given() -> None:
    tags = UtmTags("line", "social", "c", content="hero", term="ローファー")
    assert add_utm("https://s.example/?utm_content=x", tags) == (
        "https://s.example/?utm_content=x&utm_source=line&utm_medium=social&utm_campaign=c"
        "&utm_term=%E3%83%AD%E3%83%BC%E3%83%95%E3%82%A1%E3%83%BC")


_QUERY_CHARS = st.sampled_from(list("abcXYZ019=&%+~-._!$'()*,;:@/?") + ["utm_source=x", "utm_medium=", "UTM_CAMPAIGN=y",
                                                                          "%20", "%E3%81%82", "あ"])
queries = st.lists(_QUERY_CHARS, max_size=25).map("".join)
fragments = st.one_of(st.just(""), st.lists(_QUERY_CHARS, max_size=10).map(lambda p: "#" + "".join(p)))
values = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(str.strip)
tag_sets = st.builds(UtmTags, values, values, values, st.one_of(st.none(), values), st.one_of(st.none(), values))


def _url(query: str, has_q: bool, fragment: str) -> str:
    return "https://shop.example/p" + (f"?{query}" if has_q else "") + fragment


@settings(max_examples=300, deadline=None)
@given(queries, st.booleans(), fragments, tag_sets)
def test_rewrite_keeps_the_original_bytes_and_adds_only_missing_keys(query, has_q, fragment, tags):
    url = _url(query.replace("#", ""), has_q, fragment)
    fixed = add_utm(url, tags)
    head = url.partition("#")[0]
    # Everything before the fragment is a prefix of the fixed URL, and the fragment ends it unchanged.
    assert fixed.startswith(head)
    assert fixed.endswith(url[len(head):])
    before, after = utm_state(url, ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")), \
        [k for k, _ in query_params(fixed)]
    for key, _ in tags.params():
        was = [k for k, _ in query_params(url)].count(key)
        if key in before.missing:
            assert after.count(key) == 1  # added once
        else:
            assert after.count(key) == was  # what was there (even mis-cased or empty) is never duplicated
    # Nothing but the added pairs (and at most one separator) was inserted.
    added = fixed[len(head):len(fixed) - len(url) + len(head)]
    assert re.fullmatch(r"[?&]?(utm_[a-z]+=[A-Za-z0-9%._~-]+&?)*", added), added
    # ...joined without making an empty pair: `?` starts a query, `&` follows a pair, nothing follows `?` or `&`.
    _, has_query, query_text = head.partition("?")
    first = "?" if not has_query else "u" if query_text == "" or query_text.endswith("&") else "&"
    assert not added or added[0] == first, (head, added)


@settings(max_examples=300, deadline=None)
@given(queries, st.booleans(), fragments, tag_sets)
def test_suggesting_twice_changes_nothing(query, has_q, fragment, tags):
    once = add_utm(_url(query.replace("#", ""), has_q, fragment), tags)
    assert add_utm(once, tags) == once


# -- which links, and where --------------------------------------------------------------

@pytest.mark.parametrize(("url", "kind"), [
    ("https://shop.example/", "web"), ("HTTP://shop.example/", "web"),
    ("https://liff.line.me/1657-abc/path?x=1", "liff"), ("https://miniapp.line.me/123", "liff"),
    ("https://line.me/R/ti/p/@shop", "line-app"), ("https://lin.ee/abc", "line-app"),
    ("https://line.me/ja/", "web"),  # LINE's own web pages are pages
    ("line://nv/location", "not-web"), ("tel:0312345678", "not-web"), ("mailto:a@b.jp", "not-web"),
])
def test_link_kinds(url: str, kind: str) -> None:
    assert link_kind(url) == kind


@pytest.mark.parametrize(("example", "path", "place"), [
    ("flex-carousel-nested.json", ".contents.contents[1].footer.contents[0].action.uri", "bubble 2 › footer › button 1"),
    ("flex-carousel-nested.json", ".contents.contents[0].body.contents[0].contents[0].contents[0].action.altUri.desktop",
     "bubble 1 › body › box 1 › box 1 › image 1 › desktop link"),
    ("flex-carousel-nested.json", ".contents.contents[0].action.uri", "bubble 1 › action"),
    ("flex-carousel-nested.json", ".quickReply.items[0].action.uri", "quick reply 1"),
    ("flex-sale.json", ".contents.hero.action.uri", "hero › action"),
    ("imagemap.json", ".actions[0].linkUri", "area 1"),
    ("imagemap.json", ".video.externalLink.linkUri", "video › external link"),
    ("template-carousel.json", ".template.columns[0].actions[0].uri", "column 1 › button 1"),
    ("template-buttons.json", ".template.defaultAction.uri", "default action"),
])
def test_places_read_as_the_message_is_built(example: str, path: str, place: str) -> None:
    assert readable_place(json.loads((EXAMPLES / example).read_text()), path) == place


def test_buttons_are_counted_by_kind_within_their_box() -> None:
    message = {"type": "flex", "altText": "x", "contents": {"type": "bubble", "footer": {
        "type": "box", "layout": "vertical", "contents": [
            {"type": "text", "text": "t"}, {"type": "separator"},
            {"type": "button", "action": {"type": "postback", "label": "no", "data": "x"}},
            {"type": "button", "action": {"type": "uri", "label": "go", "uri": "https://s.example/go"}}]}}}
    (audit,) = audit_document(message)
    assert audit.place == "footer › button 2"  # the second button, whatever stands before it


def test_a_request_body_names_the_message_and_repeated_text_urls_are_numbered() -> None:
    body = {"to": "U" + "0" * 32, "messages": [
        {"type": "text", "text": "see https://s.example/a and https://s.example/b?utm_source=newsletter"},
        {"type": "template", "altText": "x", "template": {"type": "buttons", "text": "t", "actions": [
            {"type": "uri", "label": "call", "uri": "tel:0312345678"}]}}]}
    audits = audit_document(body, TAGS)
    assert [a.place for a in audits] == ["message 1 › text (URL 1)", "message 1 › text (URL 2)",
                                         "message 2 › button 1"]
    assert audits[1].other_source and audits[1].utm_source == "newsletter"
    assert not audits[2].checked and audits[2].suggested_url is None


# -- the check through the CLI -------------------------------------------------------------

def doctor_utm(env, path, *extra):
    result = run_cli(["doctor", "--json", "--only", "utm-links", "--message", str(path), *extra], env=env)
    assert result.stdout, result.stderr
    (check,) = json.loads(result.stdout)["checks"]
    return check, result


def write(tmp_path, doc) -> Path:
    path = tmp_path / "message.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def flex(*uris: str) -> dict:
    buttons = [{"type": "button", "action": {"type": "uri", "label": f"b{i}", "uri": u}} for i, u in enumerate(uris)]
    return {"type": "flex", "altText": "x", "contents": {"type": "carousel", "contents": [
        {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": [{"type": "text", "text": "x"}]}},
        {"type": "bubble", "footer": {"type": "box", "layout": "vertical", "contents": buttons}}]}}


TAGGED = "https://s.example/a?utm_source=line&utm_medium=social&utm_campaign=spring"


def test_all_tagged_passes_and_asks_klaviyo_nothing(cli_env, klaviyo_standin, tmp_path):
    check, result = doctor_utm(cli_env, write(tmp_path, flex(TAGGED, "line://nv/location")))
    assert result.exit_code == 0, result.stderr
    assert check["status"] == "pass"
    assert check["detail"].startswith("all 1 web link in ") and "1 link not checked (not web pages)" in check["detail"]
    assert check["data"]["tagged"] == 1 and check["data"]["not_checked"] == 1
    assert klaviyo_standin.requests == []


def test_untagged_and_other_source_links_warn_with_their_places(cli_env, tmp_path):
    path = write(tmp_path, flex(TAGGED, "https://s.example/b?x=1#top",
                                "https://s.example/c?utm_source=newsletter&utm_medium=email&utm_campaign=c"))
    check, result = doctor_utm(cli_env, path)
    assert result.exit_code == 0  # a warning: events still reach Klaviyo
    assert check["status"] == "warn"
    assert "1 of 3 web links in " in check["detail"] and "(bubble 2 › footer › button 2)" in check["detail"]
    assert "1 link carry another utm_source" in check["detail"]
    assert "bubble 2 › footer › button 3 utm_source=newsletter" in check["detail"]
    assert check["hint"].startswith(f"`linesync doctor --only utm-links --message {path} --suggest-utm source=line,")
    links = {link["place"]: link for link in check["data"]["links"]}
    assert links["bubble 2 › footer › button 2"]["missing"] == ["utm_source", "utm_medium", "utm_campaign"]
    assert links["bubble 2 › footer › button 2"]["suggested_url"] is None  # no --suggest-utm
    assert links["bubble 2 › footer › button 3"]["other_source"] is True
    strict = run_cli(["doctor", "--only", "utm-links", "--strict", "--message", str(path)], env=cli_env)
    assert strict.exit_code == 1 and "warnings (--strict): utm-links" in strict.stderr


def test_suggest_utm_shows_each_fixed_url_without_details_flag(cli_env, tmp_path):
    path = write(tmp_path, flex("https://s.example/b?x=1#top", "https://liff.line.me/1657-abc/shop"))
    result = run_cli(["doctor", "--only", "utm-links", "--message", str(path), "--suggest-utm", SUGGEST],
                     env=cli_env | {"TTY_COMPATIBLE": "0"})
    assert result.exit_code == 0, result.stderr
    assert "fixed: https://s.example/b?x=1&utm_source=line&utm_medium=social&utm_campaign=spring-sale#top" in result.stdout
    assert "fixed: https://liff.line.me/1657-abc/shop?utm_source=line&utm_medium=social&utm_campaign=spring-sale" \
        in result.stdout
    assert "LIFF app" in result.stdout
    check, _ = doctor_utm(cli_env, path, "--suggest-utm", SUGGEST)
    assert check["data"]["suggest_utm"] == {"utm_source": "line", "utm_medium": "social", "utm_campaign": "spring-sale"}
    assert [link["suggested_url"] for link in check["data"]["links"]] == [
        "https://s.example/b?x=1&utm_source=line&utm_medium=social&utm_campaign=spring-sale#top",
        "https://liff.line.me/1657-abc/shop?utm_source=line&utm_medium=social&utm_campaign=spring-sale"]


def test_the_expected_source_follows_suggest_utm(cli_env, tmp_path):
    path = write(tmp_path, flex("https://s.example/a?utm_source=line-oa&utm_medium=social&utm_campaign=c"))
    check, _ = doctor_utm(cli_env, path)
    assert check["status"] == "warn" and check["data"]["expected_source"] == "line"
    check, _ = doctor_utm(cli_env, path, "--suggest-utm", "source=line-oa,medium=social,campaign=c")
    assert check["status"] == "pass" and check["data"]["other_source"] == 0


def test_a_message_without_web_links_is_skipped_and_no_message_is_skipped(cli_env, tmp_path):
    check, _ = doctor_utm(cli_env, write(tmp_path, flex("tel:0312345678", "https://line.me/R/ti/p/@shop")))
    assert check["status"] == "skip" and "no web link to tag" in check["detail"]
    result = run_cli(["doctor", "--json", "--only", "utm-links"], env=cli_env)
    (check,) = json.loads(result.stdout)["checks"]
    assert check["status"] == "skip" and "no --message given" in check["detail"]


def test_the_check_data_keys_are_the_documented_ones(cli_env, tmp_path):
    from tests.test_output_contract import OUTPUT_MD, shape

    text = OUTPUT_MD.read_text(encoding="utf-8").split("### doctor check data: `utm-links`", 1)[1]
    table = text.split("\n#", 1)[0]
    documented = set(re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE))
    check, _ = doctor_utm(cli_env, write(tmp_path, flex(TAGGED)), "--suggest-utm", SUGGEST)
    assert shape(check["data"]) == documented
