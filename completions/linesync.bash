# bash completion for linesync; generated from the linesync command tree by `python -m linesync_cli.completion_gen`; do not edit.
# Install: copy to ~/.local/share/bash-completion/completions/linesync, or `source` it from ~/.bashrc.

# Subcommands of a command path ("" is the root).
_linesync_subcommands() {
    case "$1" in
        "") REPLY="backfill links check-link inspect-profile doctor metrics events report segments config sandbox" ;;
        "backfill") REPLY="runs verify" ;;
        "links") REPLY="sync status" ;;
        "metrics") REPLY="show" ;;
        "events") REPLY="pull status export" ;;
        "report") REPLY="funnel broadcasts" ;;
        "segments") REPLY="presets create" ;;
        "config") REPLY="show accounts" ;;
        "sandbox") REPLY="start stop env status" ;;
        *) return 1 ;;
    esac
}

# Options of a command path.
_linesync_options() {
    case "$1" in
        "") REPLY="--config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --verbose -v --debug --no-color --version --install-completion --show-completion --help" ;;
        "backfill") REPLY="--format -f --input-format --json --encoding --timezone --tz --since --until --only --limit --dry-run --out --link-map --rejects --unlinked --trigger-flows --yes -y --restart --workers --help" ;;
        "backfill runs") REPLY="--format -f --json --limit --all-accounts --help" ;;
        "backfill verify") REPLY="--settle --sample --missing --resend --readers --format -f --json --help" ;;
        "links") REPLY="--help" ;;
        "links sync") REPLY="--segment --full --format -f --json --help" ;;
        "links status") REPLY="--format -f --json --help" ;;
        "check-link") REPLY="--file --email --link-map --timezone --tz --format -f --json --help" ;;
        "inspect-profile") REPLY="--email --phone --profile-id --external-id --line-user-id --link-map --since --until --limit --line-only --reverse --timezone --tz --format -f --json --help" ;;
        "doctor") REPLY="--only --skip --since --line-user-id --message --segment --link-map --strict --ci --all-accounts --details -d --verbose -v --format -f --json --help" ;;
        "metrics") REPLY="--allow-missing --format -f --json --help" ;;
        "metrics show") REPLY="--since --until --interval --timezone --tz --feed --format -f --json --help" ;;
        "events") REPLY="--help" ;;
        "events pull") REPLY="--since --until --metric -m --overlap --full --compare-email --readers --format -f --json --help" ;;
        "events status") REPLY="--format -f --json --help" ;;
        "events export") REPLY="--format -f --since --until --metric -m --json --help" ;;
        "report") REPLY="--help" ;;
        "report funnel") REPLY="--since --until --interval --timezone --tz --compare-email --chart --exact --format -f --json --help" ;;
        "report broadcasts") REPLY="--since --until --by --no-pull --format -f --json --help" ;;
        "segments") REPLY="--help" ;;
        "segments presets") REPLY="--format -f --json --help" ;;
        "segments create") REPLY="--days --name --dry-run --force --format -f --json --help" ;;
        "config") REPLY="--help" ;;
        "config show") REPLY="--format -f --json --help" ;;
        "config accounts") REPLY="--format -f --json --help" ;;
        "sandbox") REPLY="--help" ;;
        "sandbox start") REPLY="--port --seed --faults --latency-ms --host --detach -d --help" ;;
        "sandbox stop") REPLY="--help" ;;
        "sandbox env") REPLY="--help" ;;
        "sandbox status") REPLY="--format -f --json --help" ;;
        *) return 1 ;;
    esac
}

# What the value of "PATH|OPTION" completes to: @file, @dir, @any, words, or @list:words
# (comma-separated); fails for a flag.
_linesync_option_value() {
    case "$1|$2" in
        "|--config") REPLY="@file" ;;
        "|--account") REPLY="@any" ;;
        "|--state-dir") REPLY="@dir" ;;
        "|--link-key") REPLY="@any" ;;
        "|--oa") REPLY="@any" ;;
        "|--klaviyo-base-url") REPLY="@any" ;;
        "|--line-base-url") REPLY="@any" ;;
        "backfill|--format"|"backfill|-f") REPLY="table json csv jsonl line-webhook" ;;
        "backfill|--input-format") REPLY="csv jsonl line-webhook" ;;
        "backfill|--encoding") REPLY="@any" ;;
        "backfill|--timezone"|"backfill|--tz") REPLY="@any" ;;
        "backfill|--since") REPLY="@any" ;;
        "backfill|--until") REPLY="@any" ;;
        "backfill|--only") REPLY="@list:sent delivered failed opened clicked followed blocked qr_scanned linked" ;;
        "backfill|--limit") REPLY="@any" ;;
        "backfill|--out") REPLY="@dir" ;;
        "backfill|--link-map") REPLY="@file" ;;
        "backfill|--rejects") REPLY="@file" ;;
        "backfill|--unlinked") REPLY="@file" ;;
        "backfill|--workers") REPLY="@any" ;;
        "backfill runs|--format"|"backfill runs|-f") REPLY="table json csv" ;;
        "backfill runs|--limit") REPLY="@any" ;;
        "backfill verify|--settle") REPLY="@any" ;;
        "backfill verify|--sample") REPLY="@any" ;;
        "backfill verify|--missing") REPLY="@file" ;;
        "backfill verify|--readers") REPLY="@any" ;;
        "backfill verify|--format"|"backfill verify|-f") REPLY="table json csv" ;;
        "links sync|--segment") REPLY="@any" ;;
        "links sync|--format"|"links sync|-f") REPLY="table json csv" ;;
        "links status|--format"|"links status|-f") REPLY="table json csv" ;;
        "check-link|--file") REPLY="@file" ;;
        "check-link|--email") REPLY="@any" ;;
        "check-link|--link-map") REPLY="@file" ;;
        "check-link|--timezone"|"check-link|--tz") REPLY="@any" ;;
        "check-link|--format"|"check-link|-f") REPLY="table json csv" ;;
        "inspect-profile|--email") REPLY="@any" ;;
        "inspect-profile|--phone") REPLY="@any" ;;
        "inspect-profile|--profile-id") REPLY="@any" ;;
        "inspect-profile|--external-id") REPLY="@any" ;;
        "inspect-profile|--line-user-id") REPLY="@any" ;;
        "inspect-profile|--link-map") REPLY="@file" ;;
        "inspect-profile|--since") REPLY="@any" ;;
        "inspect-profile|--until") REPLY="@any" ;;
        "inspect-profile|--limit") REPLY="@any" ;;
        "inspect-profile|--timezone"|"inspect-profile|--tz") REPLY="@any" ;;
        "inspect-profile|--format"|"inspect-profile|-f") REPLY="table json csv" ;;
        "doctor|--only") REPLY="@list:config klaviyo-auth klaviyo-scopes line-metrics metric-split recent-events link-index linkage trackable-message open-vs-read segment-processing line-token" ;;
        "doctor|--skip") REPLY="@list:config klaviyo-auth klaviyo-scopes line-metrics metric-split recent-events link-index linkage trackable-message open-vs-read segment-processing line-token" ;;
        "doctor|--since") REPLY="@any" ;;
        "doctor|--line-user-id") REPLY="@any" ;;
        "doctor|--message") REPLY="@file" ;;
        "doctor|--segment") REPLY="@any" ;;
        "doctor|--link-map") REPLY="@file" ;;
        "doctor|--format"|"doctor|-f") REPLY="table json csv" ;;
        "metrics|--format"|"metrics|-f") REPLY="table json csv" ;;
        "metrics show|--since") REPLY="@any" ;;
        "metrics show|--until") REPLY="@any" ;;
        "metrics show|--interval") REPLY="hour day week" ;;
        "metrics show|--timezone"|"metrics show|--tz") REPLY="@any" ;;
        "metrics show|--feed") REPLY="@any" ;;
        "metrics show|--format"|"metrics show|-f") REPLY="table json csv" ;;
        "events pull|--since") REPLY="@any" ;;
        "events pull|--until") REPLY="@any" ;;
        "events pull|--metric"|"events pull|-m") REPLY="@any" ;;
        "events pull|--overlap") REPLY="@any" ;;
        "events pull|--readers") REPLY="@any" ;;
        "events pull|--format"|"events pull|-f") REPLY="table json csv" ;;
        "events status|--format"|"events status|-f") REPLY="table json csv" ;;
        "events export|--format"|"events export|-f") REPLY="parquet csv jsonl" ;;
        "events export|--since") REPLY="@any" ;;
        "events export|--until") REPLY="@any" ;;
        "events export|--metric"|"events export|-m") REPLY="@any" ;;
        "report funnel|--since") REPLY="@any" ;;
        "report funnel|--until") REPLY="@any" ;;
        "report funnel|--interval") REPLY="hour day week month" ;;
        "report funnel|--timezone"|"report funnel|--tz") REPLY="@any" ;;
        "report funnel|--format"|"report funnel|-f") REPLY="table json csv" ;;
        "report broadcasts|--since") REPLY="@any" ;;
        "report broadcasts|--until") REPLY="@any" ;;
        "report broadcasts|--by") REPLY="broadcast flow workflow message" ;;
        "report broadcasts|--format"|"report broadcasts|-f") REPLY="table json csv" ;;
        "segments presets|--format"|"segments presets|-f") REPLY="table json csv" ;;
        "segments create|--days") REPLY="@any" ;;
        "segments create|--name") REPLY="@any" ;;
        "segments create|--format"|"segments create|-f") REPLY="table json csv" ;;
        "config show|--format"|"config show|-f") REPLY="table json csv" ;;
        "config accounts|--format"|"config accounts|-f") REPLY="table json csv" ;;
        "sandbox start|--port") REPLY="@any" ;;
        "sandbox start|--seed") REPLY="@any" ;;
        "sandbox start|--faults") REPLY="@any" ;;
        "sandbox start|--latency-ms") REPLY="@any" ;;
        "sandbox start|--host") REPLY="@any" ;;
        "sandbox status|--format"|"sandbox status|-f") REPLY="table json csv" ;;
        *) return 1 ;;
    esac
}

# What positional arguments of a command path complete to.
_linesync_arguments() {
    case "$1" in
        "backfill") REPLY="@file" ;;
        "backfill verify") REPLY="@any" ;;
        "check-link") REPLY="@any" ;;
        "metrics show") REPLY="sent delivered failed opened clicked followed blocked qr_scanned linked" ;;
        "events export") REPLY="@dir" ;;
        "segments create") REPLY="line-opened-not-clicked line-clicked-recently email-unopened-line-clicked line-blocked-recently line-linked" ;;
        *) return 1 ;;
    esac
}

_linesync_complete_value() {
    case "$1" in
        @file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
        @dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
        @any) COMPREPLY=() ;;
        @list:*)
            # The word after the last comma; the ones before it stay as typed.
            local done=""
            [[ $cur == *,* ]] && done="${cur%,*},"
            compopt -o nospace 2>/dev/null
            COMPREPLY=($(compgen -W "${1#@list:}" -P "$done" -- "${cur##*,}")) ;;
        *) COMPREPLY=($(compgen -W "$1" -- "$cur")) ;;
    esac
}

_linesync() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="" cmdpath="" word REPLY i=1
    (( COMP_CWORD > 0 )) && prev="${COMP_WORDS[COMP_CWORD-1]}"
    # Walk the words before the cursor: descend into subcommands, skip option values.
    while (( i < COMP_CWORD )); do
        word="${COMP_WORDS[i]}"
        if [[ $word == -* ]]; then
            if _linesync_option_value "$cmdpath" "$word"; then
                # --opt=value arrives as three words: --opt, =, value.
                if [[ ${COMP_WORDS[i+1]} == "=" ]]; then (( i += 2 )); else (( i += 1 )); fi
            fi
        elif _linesync_subcommands "$cmdpath" && [[ " $REPLY " == *" $word "* ]]; then
            cmdpath="${cmdpath:+$cmdpath }$word"
        fi
        (( i += 1 ))
    done
    # The value of an option: after "--opt ", "--opt=" or "--opt=partial".
    local option=""
    if [[ $cur == "=" ]]; then
        option="$prev"; cur=""
    elif [[ $prev == "=" ]] && (( COMP_CWORD > 1 )); then
        option="${COMP_WORDS[COMP_CWORD-2]}"
    elif [[ $prev == -* ]]; then
        option="$prev"
    fi
    if [[ -n $option ]] && _linesync_option_value "$cmdpath" "$option"; then
        _linesync_complete_value "$REPLY"
        return 0
    fi
    if [[ $cur == -* ]]; then
        _linesync_options "$cmdpath"
        COMPREPLY=($(compgen -W "$REPLY" -- "$cur"))
        return 0
    fi
    local words=""
    _linesync_subcommands "$cmdpath" && words="$REPLY"
    if _linesync_arguments "$cmdpath"; then
        if [[ $REPLY == @* ]]; then
            _linesync_complete_value "$REPLY"
            COMPREPLY+=($(compgen -W "$words" -- "$cur"))
            return 0
        fi
        words="$words $REPLY"
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}

complete -F _linesync linesync
