"""The message walker: trackable links and images in every LINE message type (line-api.md section 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linesync_cli.core.message_walker import (
    extract_messages,
    load_message_file,
    scan_document,
    scan_message,
)
from linesync_cli.errors import InputFileError
from tests.support.spec import line_spec, requires_specs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "messages"


def sample(name: str):
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def paths(found, **where):
    return [f.path for f in found if all(getattr(f, k) == v for k, v in where.items())]


def test_flex_example_from_the_fact_sheet():
    scan = scan_message(sample("flex-sale.json"))
    assert paths(scan.images) == ["$.contents.hero.url"]
    assert paths(scan.links) == ["$.contents.hero.action.uri", "$.contents.footer.contents[0].action.uri"]
    # The postback button is not a link.
    assert all("contents[1]" not in f.path for f in scan.found)
    assert scan.trackable


def test_nested_flex_carousel_with_video_icon_spans_quick_reply_and_sender():
    scan = scan_message(sample("flex-carousel-nested.json"))
    links = {f.path: f for f in scan.links}
    assert set(links) == {
        "$.contents.contents[0].hero.action.uri",
        "$.contents.contents[0].body.contents[0].action.uri",
        "$.contents.contents[0].body.contents[0].contents[0].contents[0].action.uri",
        "$.contents.contents[0].body.contents[0].contents[0].contents[0].action.altUri.desktop",
        "$.contents.contents[0].body.contents[0].contents[0].contents[1].action.uri",
        "$.contents.contents[0].action.uri",
        "$.contents.contents[1].footer.contents[0].action.uri",
        "$.quickReply.items[0].action.uri",
    }
    # tel: and line: are links, but cannot be click-tracked.
    assert not links["$.contents.contents[0].body.contents[0].contents[0].contents[1].action.uri"].trackable
    assert not links["$.contents.contents[1].footer.contents[0].action.uri"].trackable
    assert links["$.contents.contents[0].hero.action.uri"].trackable
    # Bare URLs in Flex text are not counted.
    assert not any("not-a-link" in f.url for f in scan.found)

    images = {f.path: f for f in scan.images}
    assert set(images) == {
        "$.contents.contents[0].header.contents[0].url",
        "$.contents.contents[0].hero.previewUrl",
        "$.contents.contents[0].hero.altContent.url",
        "$.contents.contents[0].body.contents[0].contents[0].contents[0].url",
        "$.quickReply.items[0].imageUrl",
        "$.sender.iconUrl",
    }
    # The video file itself is not an image.
    assert "$.contents.contents[0].hero.url" not in images
    assert images["$.contents.contents[0].header.contents[0].url"].role == "decorative"
    assert images["$.quickReply.items[0].imageUrl"].role == "chrome"
    assert images["$.sender.iconUrl"].role == "chrome"
    assert not images["$.sender.iconUrl"].trackable
    assert images["$.contents.contents[0].hero.altContent.url"].trackable


def test_text_message_urls_inside_text():
    scan = scan_message(sample("text-with-url.json"))
    assert [(f.path, f.url) for f in scan.links] == [("$.text", "https://shop.example.com/sale?utm_source=line")]
    assert "not documented" in scan.links[0].note
    assert scan.images == []


def test_text_v2_and_text_without_url():
    assert scan_message({"type": "textV2", "text": "see http://a.example/x"}).links[0].url == "http://a.example/x"
    scan = scan_message({"type": "text", "text": "Thanks for following!"})
    assert scan.found == [] and not scan.trackable


def test_image_message_both_urls_are_images():
    scan = scan_message(sample("image.json"))
    assert paths(scan.images) == ["$.originalContentUrl", "$.previewImageUrl"]
    assert scan.links == []


def test_video_message_only_the_preview_is_an_image():
    scan = scan_message({"type": "video", "originalContentUrl": "https://c.example/v.mp4",
                         "previewImageUrl": "https://c.example/v.jpg", "trackingId": "t1"})
    assert paths(scan.images) == ["$.previewImageUrl"]
    assert scan.links == []


def test_imagemap_link_uri_base_url_and_video():
    scan = scan_message(sample("imagemap.json"))
    assert paths(scan.links) == ["$.video.externalLink.linkUri", "$.actions[0].linkUri"]
    assert paths(scan.images) == ["$.baseUrl", "$.video.previewImageUrl"]
    base = scan.images[0]
    assert "240" in base.note and base.trackable


@pytest.mark.parametrize(
    ("name", "links", "images"),
    [
        ("template-buttons.json",
         ["$.template.defaultAction.uri", "$.template.actions[0].uri"], ["$.template.thumbnailImageUrl"]),
        ("template-confirm.json", ["$.template.actions[0].uri"], []),
        ("template-carousel.json",
         ["$.template.columns[0].defaultAction.uri", "$.template.columns[0].actions[0].uri"],
         ["$.template.columns[0].thumbnailImageUrl", "$.template.columns[1].thumbnailImageUrl"]),
        ("template-image-carousel.json",
         ["$.template.columns[0].action.uri"],
         ["$.template.columns[0].imageUrl", "$.template.columns[1].imageUrl"]),
    ],
)
def test_every_template_type(name, links, images):
    scan = scan_message(sample(name))
    assert sorted(paths(scan.links)) == sorted(links)
    assert sorted(paths(scan.images)) == sorted(images)
    assert all(f.role == "content" for f in scan.found)


@pytest.mark.parametrize("msg", [
    {"type": "sticker", "packageId": "446", "stickerId": "1988"},
    {"type": "audio", "originalContentUrl": "https://c.example/a.m4a", "duration": 6000},
    {"type": "location", "title": "Shop", "address": "Tokyo", "latitude": 35.0, "longitude": 139.0},
    {"type": "coupon", "couponId": "01ABC"},
])
def test_messages_without_links_or_images(msg):
    scan = scan_message(msg)
    assert scan.found == [] and not scan.trackable
    assert any("no link or image" in n for n in scan.notes)


def test_non_http_and_overlong_links_are_not_trackable():
    long_url = "https://shop.example.com/" + "x" * 1000
    scan = scan_message({"type": "template", "altText": "a", "template": {"type": "buttons", "text": "t", "actions": [
        {"type": "uri", "label": "a", "uri": "line://ti/p/@shop"},
        {"type": "uri", "label": "b", "uri": long_url},
        {"type": "uri", "label": "c", "uri": "HTTPS://shop.example.com/x"}]}})
    assert [f.trackable for f in scan.links] == [False, False, True]
    assert "line-scheme" in scan.links[0].note
    assert "1000" in scan.links[1].note


def test_unknown_type_is_searched_generically():
    scan = scan_message({"type": "hologram", "action": {"type": "uri", "uri": "https://x.example/"}})
    assert paths(scan.links) == ["$.action.uri"]
    assert "unknown message type" in scan.notes[0]


def test_odd_keys_get_bracket_paths():
    scan = scan_message({"type": "flex", "altText": "a", "contents": {"type": "bubble", "weird key": {
        "type": "uri", "uri": "https://x.example/"}}})
    assert paths(scan.links) == ['$.contents["weird key"].uri']


def test_document_shapes():
    msg = {"type": "text", "text": "hi"}
    assert [p for p, _ in extract_messages(msg)] == ["$"]
    assert [p for p, _ in extract_messages([msg, msg])] == ["$[0]", "$[1]"]
    assert [p for p, _ in extract_messages({"to": "U" + "0" * 32, "messages": [msg]})] == ["$.messages[0]"]
    scans = scan_document(sample("push-no-tracking.json"))
    assert [s.path for s in scans] == ["$.messages[0]", "$.messages[1]", "$.messages[2]"]
    assert [s.type for s in scans] == ["text", "sticker", "template"]
    assert not any(s.trackable for s in scans)
    assert scans[2].links[0].url == "tel:0312345678"
    assert scans[2].links[0].path == "$.messages[2].template.actions[0].uri"


@pytest.mark.parametrize(("doc", "reason"), [
    ([], "empty"),
    ({"messages": []}, "empty"),
    ({"messages": "x"}, "not an array"),
    ({"hello": 1}, "expected a LINE message object"),
    ("text", "expected a JSON object or array"),
])
def test_document_shape_errors(doc, reason):
    with pytest.raises(ValueError, match=reason):
        extract_messages(doc)


def test_load_message_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "text", ', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"bad\.json is not valid JSON: .* line 1") as exc:
        load_message_file(bad)
    assert exc.value.exit_code == 2
    with pytest.raises(InputFileError, match=r"cannot read message file .*missing\.json"):
        load_message_file(tmp_path / "missing.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"wrong\.json: expected a LINE message object"):
        load_message_file(wrong)
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + b'{"type": "text", "text": "hi"}')
    assert load_message_file(bom)["type"] == "text"


@requires_specs
@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_sample_messages_are_valid_line_messages(name):
    """The samples are real LINE messages: each validates against its schema in the official spec."""
    from tests.support.spec import _schema_error

    spec = line_spec()
    doc = sample(name)
    if "messages" in doc:
        assert _schema_error(spec, {"$ref": "#/components/schemas/PushMessageRequest"}, doc) is None
    mapping = spec.document["components"]["schemas"]["Message"]["discriminator"]["mapping"]
    for _, message in extract_messages(doc):
        assert _schema_error(spec, {"$ref": mapping[message["type"]]}, message) is None
