"""Trackable links and images in LINE message objects (line-api.md section 8).

Opens and clicks of a LINE message can be measured only when it carries a link the
messaging platform can redirect (http/https) or an image it serves. This module
finds them, by JSON path, in a message object, an array of them, or a request
body with `messages` (push, multicast, broadcast, validate...).

Walker rules: recurse through every dict and list; a URI action (`type: "uri"`)
is a link at `.uri` (and `.altUri.desktop`); imagemap actions and the imagemap
video's external link use `.linkUri`; Flex `image`/`icon` components are images
at `.url`; the keys `thumbnailImageUrl`, `imageUrl`, `baseUrl`, `previewUrl`,
`previewImageUrl` are images; `originalContentUrl` is an image only in an `image`
message (elsewhere it is a video or audio file). Quick-reply icons and the
sender icon are UI chrome, not message content: listed, never counted.
URLs inside a `text`/`textV2` message's text are listed as links because LINE
apps appear to make them tappable (not documented); bare URLs in Flex text are
not (line-api.md: count only `action.uri` there).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from linesync_cli.errors import InputFileError

MESSAGE_TYPES = frozenset(
    {"text", "textV2", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex", "coupon"}
)
# Where URI actions may point; only the first two can be click-tracked by redirect.
TRACKABLE_SCHEMES = frozenset({"http", "https"})
MAX_URI_LENGTH = 1000  # a URI action's limit; a rewritten tracking URL must fit it too

_IMAGE_KEYS = frozenset({"thumbnailImageUrl", "imageUrl", "baseUrl", "previewUrl", "previewImageUrl"})
_TEXT_URL = re.compile(r"https?://[^\s<>\"'）」』】、。]+", re.IGNORECASE)

Kind = Literal["link", "image"]
Role = Literal["content", "decorative", "chrome"]


@dataclass(frozen=True)
class Found:
    """One link or image: where it is, what it is, and whether it can be tracked."""

    path: str  # JSON path, e.g. `$.contents.hero.action.uri`
    url: str
    kind: Kind
    role: Role = "content"
    note: str | None = None

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme.lower()

    @property
    def trackable(self) -> bool:
        """Counts towards opens/clicks: http(s), not UI chrome, within the URI length limit."""
        return self.role != "chrome" and self.scheme in TRACKABLE_SCHEMES and len(self.url) <= MAX_URI_LENGTH

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "url": self.url, "kind": self.kind, "role": self.role,
            "trackable": self.trackable, "note": self.note,
        }


@dataclass
class MessageScan:
    """What one message object carries."""

    path: str  # the message's own path: `$`, `$[1]`, `$.messages[0]`
    type: str
    found: list[Found] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def links(self) -> list[Found]:
        return [f for f in self.found if f.kind == "link"]

    @property
    def images(self) -> list[Found]:
        return [f for f in self.found if f.kind == "image"]

    @property
    def trackable(self) -> list[Found]:
        return [f for f in self.found if f.trackable]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "trackable": bool(self.trackable),
            "links": [f.to_json() for f in self.links],
            "images": [f.to_json() for f in self.images],
            "notes": list(self.notes),
        }


def _key_path(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _link_note(url: str) -> str | None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in TRACKABLE_SCHEMES:
        return f"{scheme or 'no'}-scheme link: a link, but only http/https links can be click-tracked"
    if len(url) > MAX_URI_LENGTH:
        return f"longer than {MAX_URI_LENGTH} characters: LINE rejects it"
    return None


class _Walker:
    def __init__(self, scan: MessageScan) -> None:
        self.scan = scan

    def add(self, path: str, url: Any, kind: Kind, role: Role = "content", note: str | None = None) -> None:
        if not isinstance(url, str) or not url.strip():
            return
        url = url.strip()
        if kind == "link" and note is None:
            note = _link_note(url)
        elif kind == "image" and role == "content" and urlsplit(url).scheme.lower() != "https":
            note = note or "LINE fetches images over https only"
        self.scan.found.append(Found(path, url, kind, role, note))

    def walk(self, node: Any, path: str, trail: tuple[str, ...]) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                self.walk(item, f"{path}[{i}]", trail)
            return
        if not isinstance(node, dict):
            return
        chrome = "quickReply" in trail or (trail and trail[-1] == "sender")
        node_type = node.get("type")
        if node_type == "uri":
            # A URI action; imagemap URI actions carry `linkUri` instead of `uri`.
            for key in ("uri", "linkUri"):
                if key in node:
                    self.add(_key_path(path, key), node[key], "link")
            alt = node.get("altUri")
            if isinstance(alt, dict) and "desktop" in alt:
                self.add(_key_path(_key_path(path, "altUri"), "desktop"), alt["desktop"], "link",
                         note="shown on LINE for PC/Mac only")
        elif "linkUri" in node:
            # The imagemap video's externalLink (no `type`).
            self.add(_key_path(path, "linkUri"), node["linkUri"], "link")
        if node_type in ("image", "icon") and "url" in node:
            # Flex image/icon components (an image *message* has no `url`).
            self.add(_key_path(path, "url"), node["url"], "image", "decorative" if node_type == "icon" else "content")
        for key, value in node.items():
            child = _key_path(path, key)
            if isinstance(value, (dict, list)):
                self.walk(value, child, (*trail, key))
            elif key in _IMAGE_KEYS:
                note = "quick-reply icon: UI chrome, not message content" if chrome else None
                if key == "baseUrl":
                    note = "imagemap: LINE fetches baseUrl/{240,300,460,700,1040} (no file extension)"
                self.add(child, value, "image", "chrome" if chrome else "content", note)
            elif key == "iconUrl":
                self.add(child, value, "image", "chrome", "sender icon: UI chrome, not message content")


def scan_message(message: Any, path: str = "$") -> MessageScan:
    """Find every link and image in one message object."""
    if not isinstance(message, dict):
        return MessageScan(path, "?", notes=[f"{path} is not a message object (expected a JSON object with `type`)"])
    msg_type = message.get("type")
    msg_type = msg_type if isinstance(msg_type, str) else "?"
    scan = MessageScan(path, msg_type)
    if msg_type not in MESSAGE_TYPES:
        scan.notes.append(f"unknown message type {msg_type!r}: searched generically")
    walker = _Walker(scan)
    if msg_type in ("text", "textV2") and isinstance(message.get("text"), str):
        for m in _TEXT_URL.finditer(message["text"]):
            walker.add(_key_path(path, "text"), m.group(0), "link",
                       note="URL inside text: LINE apps appear to make it tappable (not documented)")
    if msg_type == "image":
        walker.add(_key_path(path, "originalContentUrl"), message.get("originalContentUrl"), "image")
    if msg_type == "video":
        scan.notes.append("originalContentUrl is the video file, not an image")
    if msg_type in ("sticker", "coupon", "audio", "location"):
        scan.notes.append(f"{msg_type} messages carry no link or image URL")
    walker.walk(message, path, ())
    return scan


def extract_messages(doc: Any) -> list[tuple[str, Any]]:
    """The messages in a document, with their paths; ValueError says why the shape is wrong.

    Accepted: one message object (`{"type": ...}`), an array of them, or a request
    body with `messages` (`{"to": ..., "messages": [...]}`).
    """
    if isinstance(doc, list):
        if not doc:
            raise ValueError("the array is empty: expected LINE message objects")
        return [(f"$[{i}]", m) for i, m in enumerate(doc)]
    if isinstance(doc, dict):
        if isinstance(doc.get("messages"), list):
            if not doc["messages"]:
                raise ValueError("`messages` is empty")
            return [(f"$.messages[{i}]", m) for i, m in enumerate(doc["messages"])]
        if "messages" in doc:
            raise ValueError("`messages` is not an array")
        if isinstance(doc.get("type"), str):
            return [("$", doc)]
        raise ValueError("expected a LINE message object (with `type`), an array of them, or a request body with `messages`")
    raise ValueError("expected a JSON object or array")


def scan_document(doc: Any) -> list[MessageScan]:
    return [scan_message(m, p) for p, m in extract_messages(doc)]


def load_message_file(path: str | Path) -> Any:
    """Read a JSON file (`-` is standard input); InputFileError (exit 2) names the file and the reason."""
    name = str(path)
    try:
        if name == "-":
            text = sys.stdin.read()
            name = "standard input"
        else:
            text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputFileError(f"cannot read message file {name}: {reason}",
                             hint="give a JSON file with a LINE message, an array of them, or a request body") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"message file {name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                             hint="check the file with `python -m json.tool FILE`") from None
    try:
        extract_messages(doc)
    except ValueError as exc:
        raise InputFileError(f"message file {name}: {exc}",
                             hint="examples/messages/ has sample LINE messages") from None
    return doc


_PATH_TOKEN = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')
# Keys that name a place on their own; the rest are either silent (containers whose items
# are counted instead, the link's own key) or shown as written.
_PLACE_NAMES = {"defaultAction": "default action", "externalLink": "external link", "desktop": "desktop link",
                "altContent": "alternative content"}
_SILENT = frozenset({"contents", "actions", "columns", "items", "template", "quickReply", "altUri", "uri",
                     "linkUri"})
_SECTIONS = frozenset({"header", "hero", "body", "footer"})


def _path_tokens(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if not m:
            break
        key, index, quoted = m.groups()
        tokens.append(int(index) if index is not None else key if key is not None else json.loads(quoted))
        pos = m.end()
    return tokens


def readable_place(message: Any, path: str) -> str:
    """Where a JSON path points inside one message, as a person finds it in the message.

    `path` is relative to the message (`.contents.contents[1].footer.contents[0].action.uri`);
    the answer reads "bubble 2 › footer › button 1". Items of a list are counted from 1 by
    what they are: bubbles of a carousel, a box's components by type (the second button of a
    box is "button 2" whatever precedes it), template buttons and columns, imagemap areas,
    quick-reply items. An action is silent when its owner says where it is (a button, an
    area); a bubble's own action reads "bubble 1 › action".
    """
    parts: list[str] = []
    node: Any = message
    msg_type = message.get("type") if isinstance(message, dict) else None
    prev: str | int | None = None
    for token in _path_tokens(path):
        owner = node
        if isinstance(token, int):
            if not isinstance(node, list) or token >= len(node):
                break
            node = node[token]
            kind = node.get("type") if isinstance(node, dict) else None
            if prev == "contents" and kind == "bubble":
                parts.append(f"bubble {token + 1}")
            elif prev == "contents":
                same = sum(1 for item in owner[: token + 1] if isinstance(item, dict) and item.get("type") == kind)
                parts.append(f"{kind or 'item'} {same}")
            elif prev == "actions":
                parts.append(f"{'area' if msg_type == 'imagemap' and len(parts) == 0 else 'button'} {token + 1}")
            elif prev == "columns":
                parts.append(f"column {token + 1}")
            elif prev == "items":
                parts.append(f"quick reply {token + 1}")
            else:
                parts.append(f"{prev} {token + 1}")
        else:
            node = node.get(token) if isinstance(node, dict) else None
            if token == "action":
                owner_type = owner.get("type") if isinstance(owner, dict) else None
                if owner_type == "bubble" or prev in _SECTIONS or not parts or (
                        isinstance(prev, int) and owner_type is None):
                    parts.append("action")
            elif token in _SECTIONS or token in _PLACE_NAMES:
                parts.append(_PLACE_NAMES.get(token, token))
            elif token not in _SILENT:
                parts.append(token)
        prev = token
    return " › ".join(parts) or "message"
