"""`linesync check-link`: every outcome, LINE reachability, --email, many IDs, output modes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from linesync_cli.app import app
from linesync_cli.core.linkage import classify_line_user_id
from tests.support.linkage_helpers import API_KEY, FakeAccount, event, line_id, seed_index
from tests.support.spec import check_contract
from tests.support.standin_cli import clean_env

runner = CliRunner()
TOKEN = "line_token_for_tests_0000"
LINKED, AMBIG, NOLINK, OTHER = (line_id(n) for n in (0xA1, 0xB2, 0xC3, 0xD4))


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return clean_env(LINESYNC_KLAVIYO_API_KEY=API_KEY, LINESYNC_STATE_DIR=str(tmp_path / "state"),
                     XDG_CONFIG_HOME=str(tmp_path / "config"))


@pytest.fixture
def account(tmp_path, httpx_mock):
    acct = FakeAccount()
    acct.add_profile("pL", email="taro@example.jp", phone_number="+819012345678", properties={
        "LINE User ID": LINKED, "LINE Display Name": "[red]Taro[/] \x1b[2J", "LINE Follow Status": "following",
        "LINE User ID 2": OTHER, "LINE Display Name 2": "Second account"})
    acct.add_profile("pA1", email="a1@example.jp", properties={"LINE User ID": AMBIG})
    acct.add_profile("pA2", email="a2@example.jp", properties={"LINE User ID": AMBIG})
    acct.add_profile("pX", email="hanako@example.jp", properties={"LINE User ID": OTHER})
    acct.events["pL"] = [
        event("e4", "mRecv", "2026-03-04T00:00:00+00:00", Subject="Spring sale"),
        event("e3", "mClick", "2026-03-03T00:00:00+00:00", URL="https://shop.example/x"),
        event("e2", "mOpenE", "2026-03-02T00:00:00+00:00"),
        event("e1", "mLink", "2026-03-01T00:00:00+00:00"),
    ]
    seed_index(tmp_path / "state", {"pL": LINKED, "pA1": AMBIG, "pA2": AMBIG, "pX": OTHER})
    seed_index(tmp_path / "state", {"pL": OTHER}, key="LINE User ID 2")
    httpx_mock.add_callback(acct, is_reusable=True)
    return acct


def run(env, *args, token: bool = True):
    if token:
        env = dict(env, LINESYNC_LINE_CHANNEL_ACCESS_TOKEN=TOKEN)
    return runner.invoke(app, ["check-link", *args], env=env)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(("value", "kind"), [
    (LINKED, "user-id"),
    ("U" + "AB" * 16, "uppercase-hex"),
    ("U1234abcd", "wrong-length"),
    ("C" + "a" * 32, "group-or-room-id"),
    ("@shop123", "searchable-line-id"),
    ("shop_taro", "searchable-line-id"),
    ("山田 太郎", "display-name"),
    ("Taro Yamada", "display-name"),
    ("x" * 40, "malformed"),
])
def test_format_classification(value, kind):
    assert classify_line_user_id(value).kind == kind


def test_linked_single_id_shows_profile_properties_events_and_line(env, account, httpx_mock):
    result = run(env, LINKED, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    r = doc["results"][0]
    assert r["status"] == "linked" and r["profile_ids"] == ["pL"]
    prof = r["profiles"][0]
    assert prof["email"] == "taro@example.jp" and prof["phone_number"] == "+819012345678"
    assert prof["line_properties"]["LINE Display Name"] == "[red]Taro[/] \x1b[2J"  # JSON stays exact
    assert prof["line_properties"]["LINE Follow Status"] == "following"
    assert r["last_linked_event"]["metric"]["name"] == "Linked LINE Identity"
    assert r["last_line_event"]["metric"]["name"] == "Clicked LINE Message"
    assert r["line"]["status"] == "reachable" and r["line"]["display_name"] == "Taro [b]LINE[/b]"
    assert doc["summary"] == {"total": 1, "linked": 1, "unlinked": 0, "ambiguous": 0, "malformed": 0,
                              "linked_share": 1.0}
    check_contract(httpx_mock.get_requests())
    events_req = [q for q in httpx_mock.get_requests() if q.url.path == "/api/events"][0]
    params = dict(events_req.url.params)
    assert params["include"] == "metric" and params["sort"] == "-datetime"
    assert params["fields[event]"] == "datetime,event_properties" and params["fields[metric]"] == "name,integration"
    assert API_KEY not in result.stdout + result.stderr and TOKEN not in result.stdout + result.stderr


def test_linked_piped_and_on_a_terminal(env, account):
    piped = run(env, LINKED)
    assert piped.exit_code == 0
    assert "\x1b" not in piped.stdout
    assert "[red]Taro[/]" in piped.stdout  # shown literally, never interpreted
    assert "LINE Follow Status" in piped.stdout and "following" in piped.stdout
    assert "2026-03-01T00:00:00+00:00" in piped.stdout  # ISO times when piped
    term = run(dict(env, TTY_COMPATIBLE="1", FORCE_COLOR="1", NO_COLOR=None, COLUMNS="160"), LINKED,
               "--timezone", "Asia/Tokyo")
    assert term.exit_code == 0
    assert "[red]Taro[/]" in term.stdout  # escaped markup is printed as text
    assert "\x1b[2J" not in term.stdout  # the profile's escape sequence is neutralised
    assert "2026-03-01 09:00:00 JST" in term.stdout


def test_numbered_link_key_shows_numbered_properties(env, account):
    result = run(dict(env, LINESYNC_LINK_KEY="property:LINE User ID 2"), OTHER, "--json")
    assert result.exit_code == 0, result.stderr
    props = json.loads(result.stdout)["results"][0]["profiles"][0]["line_properties"]
    assert props["LINE User ID 2"] == OTHER and props["LINE Display Name 2"] == "Second account"
    assert "LINE Display Name" not in props


def test_unlinked(env, account):
    result = run(env, NOLINK)
    assert result.exit_code == 1
    err = flat(result.stderr)
    assert "not linked: this user's LINE actions are not recorded in Klaviyo" in err
    assert "linkage is made by the messaging platform" in err and "linesync links sync" in err


def test_ambiguous(env, account):
    result = run(env, AMBIG, "--json")
    assert result.exit_code == 1
    r = json.loads(result.stdout)["results"][0]
    assert r["status"] == "ambiguous" and r["profile_ids"] == ["pA1", "pA2"]
    assert [p["email"] for p in r["profiles"]] == ["a1@example.jp", "a2@example.jp"]
    assert "ambiguous: 2 profiles carry this LINE user ID" in flat(result.stderr)


@pytest.mark.httpx_mock(assert_all_responses_were_requested=False)
def test_malformed_id_gets_a_hint_and_no_lookup(env, account, httpx_mock):
    result = run(env, "@shop123")
    assert result.exit_code == 1
    assert "searchable LINE ID" in flat(result.stdout + result.stderr)
    assert httpx_mock.get_requests() == []


def test_email_match_and_mismatch(env, account):
    match = json.loads(run(env, LINKED, "--email", "taro@example.jp", "--json").stdout)["results"][0]
    assert match["email_check"]["matches"] is True
    mismatch = run(env, LINKED, "--email", "hanako@example.jp")
    # The ID is linked, but not to the profile with that email: its events go elsewhere (issue 15).
    assert mismatch.exit_code == 1
    assert "error: --email check failed: the profile with hanako@example.jp does not carry" in flat(mismatch.stderr)
    text = flat(mismatch.stdout)
    assert "mismatch: the profile with hanako@example.jp does not carry this LINE user ID" in text
    assert f"pX carries {OTHER}" in text
    nobody = json.loads(run(env, LINKED, "--email", "nobody@example.jp", "--json").stdout)["results"][0]
    assert nobody["email_check"] == {"email": "nobody@example.jp", "matches": False, "profiles": []}


def test_line_404_is_read_honestly(env, account):
    account.line_status[LINKED] = 404
    result = run(env, LINKED, "--json")
    assert result.exit_code == 0
    line = json.loads(result.stdout)["results"][0]["line"]
    assert line["status"] == "not-reachable"
    assert "not a friend, blocked the account, or an ID from another LINE provider" in line["detail"]


def test_line_401_reports_links_then_exits_3(env, account, httpx_mock):
    account.line_status[LINKED] = 401
    account.line_status[NOLINK] = 401
    result = run(env, LINKED, NOLINK, "--json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert [r["status"] for r in doc["results"]] == ["linked", "unlinked"]
    assert [r["line"]["status"] for r in doc["results"]] == ["token-refused", "not-checked"]
    assert "LINE refused the channel access token" in flat(result.stderr)
    assert "the link results above are complete" in flat(result.stderr)
    # The token is not tried again for every other ID.
    assert sum(r.url.host == "api.line.me" for r in httpx_mock.get_requests()) == 1
    check_contract(httpx_mock.get_requests())


def test_no_token_skips_line_with_a_note(env, account, httpx_mock):
    result = run(env, LINKED, "--json", token=False)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["results"][0]["line"]["status"] == "skipped"
    assert "LINE checks skipped" in flat(result.stderr)
    assert all(r.url.host != "api.line.me" for r in httpx_mock.get_requests())


def test_many_ids_table_csv_and_share(env, account, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text(f"# support ticket 42\n{LINKED}\n\n{AMBIG}\n{NOLINK}\n@shop123\n", encoding="utf-8")
    result = run(env, "--file", str(ids))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["LINE", "user", "ID"] and len(lines) == 5
    assert "linked: 1 of 4 (25.0%)" in result.stderr
    csv_out = run(env, "--file", str(ids), "--format", "csv")
    assert csv_out.stdout.splitlines()[0] == "line_user_id,status,profile_ids,email,line,note"
    assert csv_out.stdout.splitlines()[1].startswith(f"{LINKED},linked,pL,taro@example.jp,reachable,")
    doc = json.loads(run(env, "--file", str(ids), "--json").stdout)
    assert doc["summary"] == {"total": 4, "linked": 1, "unlinked": 1, "ambiguous": 1, "malformed": 1,
                              "linked_share": 0.25}


def test_link_map_and_external_id(env, account, tmp_path):
    lm = tmp_path / "map.csv"
    lm.write_text(f"line_user_id,email\n{NOLINK},hanako@example.jp\n", encoding="utf-8")
    result = run(env, NOLINK, "--link-map", str(lm), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["results"][0]["profile_ids"] == ["pX"] and doc["resolver"].startswith("link map")
    account.profiles["pX"]["external_id"] = NOLINK
    ext = run(dict(env, LINESYNC_LINK_KEY="external_id"), NOLINK, "--json")
    assert json.loads(ext.stdout)["results"][0]["profile_ids"] == ["pX"]


def test_no_index_and_no_ids(env):
    result = run(env, LINKED)
    assert result.exit_code == 2 and "linesync links sync" in result.stderr
    assert run(env).exit_code == 2


def test_ids_from_standard_input_and_a_csv(env, account, tmp_path):
    piped = runner.invoke(app, ["check-link", "--file", "-", "--json"], env=dict(env, LINESYNC_LINE_CHANNEL_ACCESS_TOKEN=TOKEN),
                          input=f"{LINKED}\n{NOLINK}\n")
    assert [r["line_user_id"] for r in json.loads(piped.stdout)["results"]] == [LINKED, NOLINK]
    sheet = tmp_path / "export.csv"
    sheet.write_text(f"\ufeffname,line_user_id\r\nTaro,{LINKED}\r\nNobody,\r\n", encoding="utf-8")
    result = run(env, "--file", str(sheet), "--json")
    assert result.exit_code == 0
    assert [r["line_user_id"] for r in json.loads(result.stdout)["results"]] == [LINKED]
    missing = run(env, "--file", str(tmp_path / "nope.txt"))
    assert missing.exit_code == 2 and "cannot read" in missing.stderr


def test_malformed_ids_are_explained_without_a_link_index(tmp_path):
    """Nothing to resolve, so no index is needed: the format problem is the answer."""
    from tests.support.standin_cli import clean_env, run_cli

    (tmp_path / "none.toml").write_text("")
    env = clean_env(LINESYNC_STATE_DIR=str(tmp_path / "state"), LINESYNC_CONFIG=str(tmp_path / "none.toml"))
    result = run_cli(["check-link", "U123", "@shop_taro", "--json"], env=env)
    assert result.exit_code == 1
    assert "links sync" not in result.stderr
    import json

    doc = json.loads(result.stdout)
    assert doc["resolver"] is None
    assert "@shop_taro" in result.stdout


# -- issue 15 item 4: exit codes that mean the check, one error per malformed ID -----------------

@pytest.mark.parametrize("mode", [{"TTY_COMPATIBLE": "1"}, {"TTY_COMPATIBLE": "0"}], ids=["terminal", "piped"])
def test_email_mismatch_is_a_failed_check_on_a_terminal_and_piped(env, account, mode):
    mismatch = run(dict(env, **mode), LINKED, "--email", "hanako@example.jp")
    assert mismatch.exit_code == 1
    assert "mismatch:" in flat(mismatch.stdout) and "error:" not in mismatch.stdout
    errors = [line for line in mismatch.stderr.splitlines() if "error:" in line]  # bold on a terminal
    assert len(errors) == 1 and "--email check failed" in errors[0] and "hanako@example.jp" in errors[0]
    nobody = run(dict(env, **mode), LINKED, "--email", "nobody@example.jp")
    assert nobody.exit_code == 1 and "no Klaviyo profile has the email nobody@example.jp" in flat(nobody.stderr)
    match = run(dict(env, **mode), LINKED, "--email", "taro@example.jp")
    assert match.exit_code == 0, match.stderr
    assert "error:" not in match.stderr


@pytest.mark.parametrize("mode", [{"TTY_COMPATIBLE": "1"}, {"TTY_COMPATIBLE": "0"}], ids=["terminal", "piped"])
def test_a_malformed_id_says_what_is_wrong_once(tmp_path, mode):
    env = clean_env(LINESYNC_STATE_DIR=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"), **mode)
    result = runner.invoke(app, ["check-link", "Uabc"], env=env)
    assert result.exit_code == 1
    said = "a LINE user ID has exactly 32"
    assert (result.stdout + result.stderr).count(said) == 1
    assert said in result.stderr and "error:\x1b[0m Uabc" not in result.stdout
    assert "Uabc is not a LINE user ID" in result.stderr
    assert "malformed (wrong-length)" in result.stdout  # the data still says what the ID is
    assert "not linked to exactly one profile" not in result.stderr  # a malformed ID is not "unlinked"
