"""Resolving LINE user IDs: the link index, external_id look-ups and --link-map."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from linesync_cli.api.klaviyo import filter_list
from linesync_cli.core.linkage import (
    LINE_USER_ID_RE,
    Link,
    LinkStatus,
    link_index_status,
    open_resolver,
)
from linesync_cli.errors import ConfigError, InputFileError, NoLinkIndex
from tests.support.linkage_helpers import (
    any_values,
    klaviyo_client,
    line_id,
    page,
    profile,
    query,
    seed_index,
    settings,
)
from tests.support.spec import check_contract


def no_klaviyo():
    raise AssertionError("this resolution must not need Klaviyo")


A, B, C, D = (line_id(n) for n in (1, 2, 3, 4))


def test_line_user_id_pattern():
    assert LINE_USER_ID_RE.fullmatch(A)
    for bad in ("U" + "A" * 32, "U" + "a" * 31, "@shop123", "u" + "a" * 32, A + "\n"):
        assert not LINE_USER_ID_RE.fullmatch(bad)


def test_link_of_sorts_and_classifies():
    assert Link.of(A, []).status is LinkStatus.UNLINKED
    assert Link.of(A, ["p1", "p1"]) == Link(A, LinkStatus.LINKED, ("p1",))
    assert Link.of(A, ["p2", "p1"]).status is LinkStatus.AMBIGUOUS
    assert Link.of(A, ["p2", "p1"]).profile_ids == ("p1", "p2")
    assert Link.of(A, ["p2", "p1"]).profile_id is None


# -- property:<name> -------------------------------------------------------------

def test_no_index_stops_with_exit_2_and_the_sync_hint(tmp_path):
    with pytest.raises(NoLinkIndex) as err:
        open_resolver(settings(tmp_path), no_klaviyo)
    assert err.value.exit_code == 2
    assert "linesync links sync" in err.value.hint


def test_index_resolves_linked_unlinked_ambiguous_and_malformed(tmp_path):
    seed_index(tmp_path, {"p1": A, "p2": B, "p3": B, "p4": "U123", "p5": "U" + "AB" * 16},
               when=datetime.now(UTC) - timedelta(hours=2))
    resolver = open_resolver(settings(tmp_path), no_klaviyo)
    assert resolver.description == 'link index (property "LINE User ID"), synced 2h ago'
    got = resolver.resolve([A, B, C, "U123", "U" + "AB" * 16])
    assert got[A] == Link(A, LinkStatus.LINKED, ("p1",))
    assert got[B] == Link(B, LinkStatus.AMBIGUOUS, ("p2", "p3"))
    assert got[C].status is LinkStatus.UNLINKED
    # A malformed value in a profile never links anything.
    assert got["U123"].status is LinkStatus.UNLINKED
    assert got["U" + "AB" * 16].status is LinkStatus.UNLINKED


def test_several_link_keys_coexist(tmp_path):
    seed_index(tmp_path, {"p1": A})
    seed_index(tmp_path, {"p9": A}, key="LINE User ID 2")
    first = open_resolver(settings(tmp_path), no_klaviyo).resolve([A])[A]
    second = open_resolver(settings(tmp_path, "property:LINE User ID 2"), no_klaviyo).resolve([A])[A]
    assert (first.profile_ids, second.profile_ids) == (("p1",), ("p9",))
    with pytest.raises(NoLinkIndex):
        open_resolver(settings(tmp_path, "property:LINE User ID 3"), no_klaviyo)


def test_index_resolves_large_batches(tmp_path):
    seed_index(tmp_path, {f"p{n}": line_id(n) for n in range(3000)})
    resolver = open_resolver(settings(tmp_path), no_klaviyo)
    asked = [line_id(n) for n in range(2500, 3500)]
    got = resolver.resolve(asked)
    assert len(got) == 1000
    assert sum(link.status is LinkStatus.LINKED for link in got.values()) == 500
    assert got[line_id(2999)].profile_ids == ("p2999",)


def test_index_status(tmp_path):
    status = link_index_status(settings(tmp_path))
    assert not status.exists and status.link_key == "property:LINE User ID"
    seed_index(tmp_path, {"p1": A, "p2": B, "p3": B, "p4": "nope"})
    status = link_index_status(settings(tmp_path))
    assert status.exists
    assert (status.linked_ids, status.ambiguous_ids, status.malformed_values) == (1, 1, 1)
    assert status.path == tmp_path / "links.sqlite"
    assert status.built_at is not None and status.synced_at is not None
    with pytest.raises(ConfigError):
        link_index_status(settings(tmp_path, "external_id"))


# -- external_id -----------------------------------------------------------------

def test_filter_list_quotes_like_json():
    assert filter_list("email", ["a@x.jp", 'q"@x.jp']) == 'any(email,["a@x.jp","q\\"@x.jp"])'


def test_external_id_batches_of_100_and_ambiguity(httpx_mock, tmp_path):
    ids = [line_id(n) for n in range(250)]

    def answer(request: httpx.Request) -> httpx.Response:
        values = any_values(query(request)["filter"])
        assert len(values) <= 100
        found = [profile(f"p{v[-4:]}", external_id=v) for v in values if int(v[1:], 16) % 2 == 0]
        if A in values:  # A = line_id(1): on two profiles
            found += [profile("pA1", external_id=A), profile("pA2", external_id=A)]
        return httpx.Response(200, json=page(found))

    httpx_mock.add_callback(answer, is_reusable=True)
    client = klaviyo_client()
    resolver = open_resolver(settings(tmp_path, "external_id"), lambda: client)
    assert resolver.description == "external_id look-ups in Klaviyo"
    got = resolver.resolve(ids + ["@shop123"])
    requests = httpx_mock.get_requests()
    assert len(requests) == 3
    check_contract(requests)
    q = query(requests[0])
    assert q["fields[profile]"] == "external_id" and q["page[size]"] == "100"
    assert q["filter"].startswith("any(external_id,[")
    assert got[line_id(0)].status is LinkStatus.LINKED
    assert got[line_id(3)].status is LinkStatus.UNLINKED
    assert got[A] == Link(A, LinkStatus.AMBIGUOUS, ("pA1", "pA2"))
    assert got["@shop123"].status is LinkStatus.UNLINKED  # never sent
    assert all("@shop123" not in str(r.url) for r in requests)


def test_external_id_follows_pages(httpx_mock, tmp_path):
    httpx_mock.add_response(
        url=httpx.URL("https://a.klaviyo.com/api/profiles", params={
            "filter": filter_list("external_id", [A, B]), "page[size]": "100", "fields[profile]": "external_id"}),
        json=page([profile("p1", external_id=A)],
                  next_url="https://a.klaviyo.com/api/profiles?page%5Bcursor%5D=abc&page%5Bsize%5D=100"))
    httpx_mock.add_response(json=page([profile("p2", external_id=B)]))
    client = klaviyo_client()
    got = open_resolver(settings(tmp_path, "external_id"), lambda: client).resolve([A, B])
    assert [got[A].profile_ids, got[B].profile_ids] == [("p1",), ("p2",)]
    check_contract(httpx_mock.get_requests())


# -- --link-map ------------------------------------------------------------------

def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_link_map_profile_ids_resolve_offline(tmp_path):
    lm = write(tmp_path / "map.csv", f"\ufeffline_user_id,profile_id\r\n{A},p1\r\n{B},p2\r\n{B},p3\r\n{A},p1\r\n\r\n")
    resolver = open_resolver(settings(tmp_path, "external_id"), no_klaviyo, link_map=lm)
    assert resolver.description == f"link map {lm} (2 LINE user IDs)"
    got = resolver.resolve([A, B, C])
    assert got[A] == Link(A, LinkStatus.LINKED, ("p1",))
    assert got[B].status is LinkStatus.AMBIGUOUS
    assert got[C].status is LinkStatus.UNLINKED


def test_link_map_needs_no_index_even_for_a_property_key(tmp_path):
    lm = write(tmp_path / "map.csv", f"line_user_id,profile_id\n{A},p1\n")
    assert open_resolver(settings(tmp_path), no_klaviyo, link_map=lm).resolve([A])[A].profile_id == "p1"


def test_link_map_emails_and_phones_batched(httpx_mock, tmp_path):
    rows = ["line_user_id,email,phone_number"]
    rows += [f"{line_id(n)},User{n}@Example.jp," for n in range(10, 160)]  # 150 emails
    rows += [f"{A},,+81 90-1234-5678", f"{B},gone@example.jp,", f"{C},c@example.jp,", f"{C},,+819000000001"]
    lm = write(tmp_path / "map.csv", "\n".join(rows) + "\n")

    def answer(request: httpx.Request) -> httpx.Response:
        q = query(request)
        values = any_values(q["filter"])
        assert len(values) <= 100
        if q["filter"].startswith("any(email,"):
            assert q["fields[profile]"] == "email"
            known = [v for v in values if v != "gone@example.jp"]
            return httpx.Response(200, json=page([profile("pe-" + v, email=v) for v in known]))
        assert q["fields[profile]"] == "phone_number"
        return httpx.Response(200, json=page([profile("pt-" + v[1:], phone_number=v) for v in values]))

    httpx_mock.add_callback(answer, is_reusable=True)
    client = klaviyo_client()
    resolver = open_resolver(settings(tmp_path), lambda: client, link_map=lm)
    asked = [line_id(n) for n in range(10, 160)] + [A, B, C]
    got = resolver.resolve(asked)
    requests = httpx_mock.get_requests()
    check_contract(requests)
    assert len(requests) == 3  # 150 emails in 2 requests, 2 phones in 1
    assert got[line_id(10)].profile_ids == ("pe-user10@example.jp",)  # emails looked up in lower case
    assert got[A].profile_ids == ("pt-819012345678",)
    assert got[B].status is LinkStatus.UNLINKED  # profile does not exist
    assert got[C].status is LinkStatus.AMBIGUOUS  # email and phone reach different profiles
    # Asked again: answered from what was already looked up.
    resolver.resolve([A, B])
    assert len(httpx_mock.get_requests()) == 3


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        (f"line_user_id,profile_id\n{A},p1\nU12345,p2\n", ":3", "is not a LINE user ID"),
        (f"line_user_id,profile_id,email\n{A},p1,\n{B},,\n", ":3", "no profile_id, email or phone_number"),
        (f"line_user_id,email\n{A},not-an-email\n", ":2", "is not an email address"),
        (f"line_user_id,phone_number\n{A},090-1234-5678\n", ":2", "not an international number"),
        (f"line_user_id,customer\n{A},x\n", "", "needs a line_user_id column and one of"),
    ],
)
def test_link_map_bad_rows_stop_naming_file_and_line(tmp_path, text, where, what):
    lm = write(tmp_path / "map.csv", text)
    with pytest.raises(InputFileError) as err:
        open_resolver(settings(tmp_path), no_klaviyo, link_map=lm)
    assert err.value.exit_code == 2
    assert f"{lm}{where}" in err.value.message and what in err.value.message


def test_link_map_missing_or_undecodable(tmp_path):
    with pytest.raises(InputFileError, match="cannot read link map"):
        open_resolver(settings(tmp_path), no_klaviyo, link_map=tmp_path / "nope.csv")
    bad = tmp_path / "sjis.csv"
    bad.write_bytes("line_user_id,email\n".encode() + f"{A},".encode() + "太郎@例.jp\n".encode("cp932"))
    with pytest.raises(InputFileError, match="not UTF-8"):
        open_resolver(settings(tmp_path), no_klaviyo, link_map=bad)
