# bash completion for linesync; generated from the linesync command tree by `python -m linesync_cli.completion_gen`; do not edit.
# Install: copy to ~/.local/share/bash-completion/completions/linesync, or `source` it from ~/.bashrc.

# Subcommands of a command path ("" is the root).
_linesync_subcommands() {
    case "$1" in
        "") REPLY="backfill links check-link inspect-profile doctor metrics events report reconcile segments config sandbox" ;;
        "backfill") REPLY="runs verify" ;;
        "links") REPLY="sync status" ;;
        "metrics") REPLY="show" ;;
        "events") REPLY="pull status export" ;;
        "report") REPLY="funnel broadcasts revenue" ;;
        "segments") REPLY="presets create" ;;
        "config") REPLY="show path init accounts" ;;
        "sandbox") REPLY="start stop env status" ;;
        *) return 1 ;;
    esac
}

# Options of a command path.
_linesync_options() {
    case "$1" in
        "") REPLY="--config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color --version --install-completion --show-completion --help" ;;
        "backfill") REPLY="--format -f --input-format --json --encoding --timezone --tz --since --until --only --limit --dry-run --out --link-map --rejects --unlinked --trigger-flows --yes -y --restart --workers --allow-empty --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "backfill runs") REPLY="--format -f --json --limit --all-accounts --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "backfill verify") REPLY="--settle --sample --missing --resend --readers --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "links") REPLY="--help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "links sync") REPLY="--segment --full --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "links status") REPLY="--format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "check-link") REPLY="--file --email --link-map --timezone --tz --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "inspect-profile") REPLY="--email --phone --profile-id --external-id --line-user-id --link-map --since --until --limit --line-only --reverse --timezone --tz --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "doctor") REPLY="--only --skip --since --line-user-id --message --suggest-utm --segment --link-map --strict --ci --all-accounts --details -d --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "metrics") REPLY="--allow-missing --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "metrics show") REPLY="--since --until --interval --timezone --tz --feed --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "events") REPLY="--help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "events pull") REPLY="--since --until --metric -m --overlap --full --compare-email --readers --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "events status") REPLY="--format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "events export") REPLY="--format -f --since --until --metric -m --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "report") REPLY="--help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "report funnel") REPLY="--since --until --interval --timezone --tz --compare-email --chart --exact --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "report broadcasts") REPLY="--since --until --by --no-pull --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "report revenue") REPLY="--since --until --window --order-metric --by --per --no-pull --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "reconcile") REPLY="--since --until --timezone --tz --tolerance --details -d --request-id --unit --match-property --refresh --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "segments") REPLY="--help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "segments presets") REPLY="--format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "segments create") REPLY="--days --window --order-metric --name --dry-run --force --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "config") REPLY="--help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "config show") REPLY="--format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "config path") REPLY="--format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "config init") REPLY="--key-from-stdin --force --format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "config accounts") REPLY="--format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "sandbox") REPLY="--help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "sandbox start") REPLY="--port --seed --faults --latency-ms --host --detach -d --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "sandbox stop") REPLY="--help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "sandbox env") REPLY="--help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
        "sandbox status") REPLY="--format -f --json --help --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url --timeout --retries --verbose -v --quiet -q --debug --no-color" ;;
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
        "|--timeout") REPLY="@any" ;;
        "|--retries") REPLY="@any" ;;
        "backfill|--format"|"backfill|-f") REPLY="table json" ;;
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
        "backfill|--config") REPLY="@file" ;;
        "backfill|--account") REPLY="@any" ;;
        "backfill|--state-dir") REPLY="@dir" ;;
        "backfill|--link-key") REPLY="@any" ;;
        "backfill|--oa") REPLY="@any" ;;
        "backfill|--klaviyo-base-url") REPLY="@any" ;;
        "backfill|--line-base-url") REPLY="@any" ;;
        "backfill|--timeout") REPLY="@any" ;;
        "backfill|--retries") REPLY="@any" ;;
        "backfill runs|--format"|"backfill runs|-f") REPLY="table json csv" ;;
        "backfill runs|--limit") REPLY="@any" ;;
        "backfill runs|--config") REPLY="@file" ;;
        "backfill runs|--account") REPLY="@any" ;;
        "backfill runs|--state-dir") REPLY="@dir" ;;
        "backfill runs|--link-key") REPLY="@any" ;;
        "backfill runs|--oa") REPLY="@any" ;;
        "backfill runs|--klaviyo-base-url") REPLY="@any" ;;
        "backfill runs|--line-base-url") REPLY="@any" ;;
        "backfill runs|--timeout") REPLY="@any" ;;
        "backfill runs|--retries") REPLY="@any" ;;
        "backfill verify|--settle") REPLY="@any" ;;
        "backfill verify|--sample") REPLY="@any" ;;
        "backfill verify|--missing") REPLY="@file" ;;
        "backfill verify|--readers") REPLY="@any" ;;
        "backfill verify|--format"|"backfill verify|-f") REPLY="table json csv" ;;
        "backfill verify|--config") REPLY="@file" ;;
        "backfill verify|--account") REPLY="@any" ;;
        "backfill verify|--state-dir") REPLY="@dir" ;;
        "backfill verify|--link-key") REPLY="@any" ;;
        "backfill verify|--oa") REPLY="@any" ;;
        "backfill verify|--klaviyo-base-url") REPLY="@any" ;;
        "backfill verify|--line-base-url") REPLY="@any" ;;
        "backfill verify|--timeout") REPLY="@any" ;;
        "backfill verify|--retries") REPLY="@any" ;;
        "links|--config") REPLY="@file" ;;
        "links|--account") REPLY="@any" ;;
        "links|--state-dir") REPLY="@dir" ;;
        "links|--link-key") REPLY="@any" ;;
        "links|--oa") REPLY="@any" ;;
        "links|--klaviyo-base-url") REPLY="@any" ;;
        "links|--line-base-url") REPLY="@any" ;;
        "links|--timeout") REPLY="@any" ;;
        "links|--retries") REPLY="@any" ;;
        "links sync|--segment") REPLY="@any" ;;
        "links sync|--format"|"links sync|-f") REPLY="table json csv" ;;
        "links sync|--config") REPLY="@file" ;;
        "links sync|--account") REPLY="@any" ;;
        "links sync|--state-dir") REPLY="@dir" ;;
        "links sync|--link-key") REPLY="@any" ;;
        "links sync|--oa") REPLY="@any" ;;
        "links sync|--klaviyo-base-url") REPLY="@any" ;;
        "links sync|--line-base-url") REPLY="@any" ;;
        "links sync|--timeout") REPLY="@any" ;;
        "links sync|--retries") REPLY="@any" ;;
        "links status|--format"|"links status|-f") REPLY="table json csv" ;;
        "links status|--config") REPLY="@file" ;;
        "links status|--account") REPLY="@any" ;;
        "links status|--state-dir") REPLY="@dir" ;;
        "links status|--link-key") REPLY="@any" ;;
        "links status|--oa") REPLY="@any" ;;
        "links status|--klaviyo-base-url") REPLY="@any" ;;
        "links status|--line-base-url") REPLY="@any" ;;
        "links status|--timeout") REPLY="@any" ;;
        "links status|--retries") REPLY="@any" ;;
        "check-link|--file") REPLY="@file" ;;
        "check-link|--email") REPLY="@any" ;;
        "check-link|--link-map") REPLY="@file" ;;
        "check-link|--timezone"|"check-link|--tz") REPLY="@any" ;;
        "check-link|--format"|"check-link|-f") REPLY="table json csv" ;;
        "check-link|--config") REPLY="@file" ;;
        "check-link|--account") REPLY="@any" ;;
        "check-link|--state-dir") REPLY="@dir" ;;
        "check-link|--link-key") REPLY="@any" ;;
        "check-link|--oa") REPLY="@any" ;;
        "check-link|--klaviyo-base-url") REPLY="@any" ;;
        "check-link|--line-base-url") REPLY="@any" ;;
        "check-link|--timeout") REPLY="@any" ;;
        "check-link|--retries") REPLY="@any" ;;
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
        "inspect-profile|--config") REPLY="@file" ;;
        "inspect-profile|--account") REPLY="@any" ;;
        "inspect-profile|--state-dir") REPLY="@dir" ;;
        "inspect-profile|--link-key") REPLY="@any" ;;
        "inspect-profile|--oa") REPLY="@any" ;;
        "inspect-profile|--klaviyo-base-url") REPLY="@any" ;;
        "inspect-profile|--line-base-url") REPLY="@any" ;;
        "inspect-profile|--timeout") REPLY="@any" ;;
        "inspect-profile|--retries") REPLY="@any" ;;
        "doctor|--only") REPLY="@list:config klaviyo-auth klaviyo-scopes line-metrics metric-split recent-events link-index linkage trackable-message utm-links open-vs-read segment-processing line-token line-vs-klaviyo" ;;
        "doctor|--skip") REPLY="@list:config klaviyo-auth klaviyo-scopes line-metrics metric-split recent-events link-index linkage trackable-message utm-links open-vs-read segment-processing line-token line-vs-klaviyo" ;;
        "doctor|--since") REPLY="@any" ;;
        "doctor|--line-user-id") REPLY="@any" ;;
        "doctor|--message") REPLY="@file" ;;
        "doctor|--suggest-utm") REPLY="@any" ;;
        "doctor|--segment") REPLY="@any" ;;
        "doctor|--link-map") REPLY="@file" ;;
        "doctor|--format"|"doctor|-f") REPLY="table json csv" ;;
        "doctor|--config") REPLY="@file" ;;
        "doctor|--account") REPLY="@any" ;;
        "doctor|--state-dir") REPLY="@dir" ;;
        "doctor|--link-key") REPLY="@any" ;;
        "doctor|--oa") REPLY="@any" ;;
        "doctor|--klaviyo-base-url") REPLY="@any" ;;
        "doctor|--line-base-url") REPLY="@any" ;;
        "doctor|--timeout") REPLY="@any" ;;
        "doctor|--retries") REPLY="@any" ;;
        "metrics|--format"|"metrics|-f") REPLY="table json csv" ;;
        "metrics|--config") REPLY="@file" ;;
        "metrics|--account") REPLY="@any" ;;
        "metrics|--state-dir") REPLY="@dir" ;;
        "metrics|--link-key") REPLY="@any" ;;
        "metrics|--oa") REPLY="@any" ;;
        "metrics|--klaviyo-base-url") REPLY="@any" ;;
        "metrics|--line-base-url") REPLY="@any" ;;
        "metrics|--timeout") REPLY="@any" ;;
        "metrics|--retries") REPLY="@any" ;;
        "metrics show|--since") REPLY="@any" ;;
        "metrics show|--until") REPLY="@any" ;;
        "metrics show|--interval") REPLY="hour day week" ;;
        "metrics show|--timezone"|"metrics show|--tz") REPLY="@any" ;;
        "metrics show|--feed") REPLY="@any" ;;
        "metrics show|--format"|"metrics show|-f") REPLY="table json csv" ;;
        "metrics show|--config") REPLY="@file" ;;
        "metrics show|--account") REPLY="@any" ;;
        "metrics show|--state-dir") REPLY="@dir" ;;
        "metrics show|--link-key") REPLY="@any" ;;
        "metrics show|--oa") REPLY="@any" ;;
        "metrics show|--klaviyo-base-url") REPLY="@any" ;;
        "metrics show|--line-base-url") REPLY="@any" ;;
        "metrics show|--timeout") REPLY="@any" ;;
        "metrics show|--retries") REPLY="@any" ;;
        "events|--config") REPLY="@file" ;;
        "events|--account") REPLY="@any" ;;
        "events|--state-dir") REPLY="@dir" ;;
        "events|--link-key") REPLY="@any" ;;
        "events|--oa") REPLY="@any" ;;
        "events|--klaviyo-base-url") REPLY="@any" ;;
        "events|--line-base-url") REPLY="@any" ;;
        "events|--timeout") REPLY="@any" ;;
        "events|--retries") REPLY="@any" ;;
        "events pull|--since") REPLY="@any" ;;
        "events pull|--until") REPLY="@any" ;;
        "events pull|--metric"|"events pull|-m") REPLY="@any" ;;
        "events pull|--overlap") REPLY="@any" ;;
        "events pull|--readers") REPLY="@any" ;;
        "events pull|--format"|"events pull|-f") REPLY="table json csv" ;;
        "events pull|--config") REPLY="@file" ;;
        "events pull|--account") REPLY="@any" ;;
        "events pull|--state-dir") REPLY="@dir" ;;
        "events pull|--link-key") REPLY="@any" ;;
        "events pull|--oa") REPLY="@any" ;;
        "events pull|--klaviyo-base-url") REPLY="@any" ;;
        "events pull|--line-base-url") REPLY="@any" ;;
        "events pull|--timeout") REPLY="@any" ;;
        "events pull|--retries") REPLY="@any" ;;
        "events status|--format"|"events status|-f") REPLY="table json csv" ;;
        "events status|--config") REPLY="@file" ;;
        "events status|--account") REPLY="@any" ;;
        "events status|--state-dir") REPLY="@dir" ;;
        "events status|--link-key") REPLY="@any" ;;
        "events status|--oa") REPLY="@any" ;;
        "events status|--klaviyo-base-url") REPLY="@any" ;;
        "events status|--line-base-url") REPLY="@any" ;;
        "events status|--timeout") REPLY="@any" ;;
        "events status|--retries") REPLY="@any" ;;
        "events export|--format"|"events export|-f") REPLY="parquet csv jsonl" ;;
        "events export|--since") REPLY="@any" ;;
        "events export|--until") REPLY="@any" ;;
        "events export|--metric"|"events export|-m") REPLY="@any" ;;
        "events export|--config") REPLY="@file" ;;
        "events export|--account") REPLY="@any" ;;
        "events export|--state-dir") REPLY="@dir" ;;
        "events export|--link-key") REPLY="@any" ;;
        "events export|--oa") REPLY="@any" ;;
        "events export|--klaviyo-base-url") REPLY="@any" ;;
        "events export|--line-base-url") REPLY="@any" ;;
        "events export|--timeout") REPLY="@any" ;;
        "events export|--retries") REPLY="@any" ;;
        "report|--config") REPLY="@file" ;;
        "report|--account") REPLY="@any" ;;
        "report|--state-dir") REPLY="@dir" ;;
        "report|--link-key") REPLY="@any" ;;
        "report|--oa") REPLY="@any" ;;
        "report|--klaviyo-base-url") REPLY="@any" ;;
        "report|--line-base-url") REPLY="@any" ;;
        "report|--timeout") REPLY="@any" ;;
        "report|--retries") REPLY="@any" ;;
        "report funnel|--since") REPLY="@any" ;;
        "report funnel|--until") REPLY="@any" ;;
        "report funnel|--interval") REPLY="hour day week month" ;;
        "report funnel|--timezone"|"report funnel|--tz") REPLY="@any" ;;
        "report funnel|--format"|"report funnel|-f") REPLY="table json csv" ;;
        "report funnel|--config") REPLY="@file" ;;
        "report funnel|--account") REPLY="@any" ;;
        "report funnel|--state-dir") REPLY="@dir" ;;
        "report funnel|--link-key") REPLY="@any" ;;
        "report funnel|--oa") REPLY="@any" ;;
        "report funnel|--klaviyo-base-url") REPLY="@any" ;;
        "report funnel|--line-base-url") REPLY="@any" ;;
        "report funnel|--timeout") REPLY="@any" ;;
        "report funnel|--retries") REPLY="@any" ;;
        "report broadcasts|--since") REPLY="@any" ;;
        "report broadcasts|--until") REPLY="@any" ;;
        "report broadcasts|--by") REPLY="broadcast flow workflow message" ;;
        "report broadcasts|--format"|"report broadcasts|-f") REPLY="table json csv" ;;
        "report broadcasts|--config") REPLY="@file" ;;
        "report broadcasts|--account") REPLY="@any" ;;
        "report broadcasts|--state-dir") REPLY="@dir" ;;
        "report broadcasts|--link-key") REPLY="@any" ;;
        "report broadcasts|--oa") REPLY="@any" ;;
        "report broadcasts|--klaviyo-base-url") REPLY="@any" ;;
        "report broadcasts|--line-base-url") REPLY="@any" ;;
        "report broadcasts|--timeout") REPLY="@any" ;;
        "report broadcasts|--retries") REPLY="@any" ;;
        "report revenue|--since") REPLY="@any" ;;
        "report revenue|--until") REPLY="@any" ;;
        "report revenue|--window") REPLY="@any" ;;
        "report revenue|--order-metric") REPLY="@any" ;;
        "report revenue|--by") REPLY="broadcast" ;;
        "report revenue|--per") REPLY="range week" ;;
        "report revenue|--format"|"report revenue|-f") REPLY="table json csv" ;;
        "report revenue|--config") REPLY="@file" ;;
        "report revenue|--account") REPLY="@any" ;;
        "report revenue|--state-dir") REPLY="@dir" ;;
        "report revenue|--link-key") REPLY="@any" ;;
        "report revenue|--oa") REPLY="@any" ;;
        "report revenue|--klaviyo-base-url") REPLY="@any" ;;
        "report revenue|--line-base-url") REPLY="@any" ;;
        "report revenue|--timeout") REPLY="@any" ;;
        "report revenue|--retries") REPLY="@any" ;;
        "reconcile|--since") REPLY="@any" ;;
        "reconcile|--until") REPLY="@any" ;;
        "reconcile|--timezone"|"reconcile|--tz") REPLY="@any" ;;
        "reconcile|--tolerance") REPLY="@any" ;;
        "reconcile|--request-id") REPLY="@any" ;;
        "reconcile|--unit") REPLY="@any" ;;
        "reconcile|--match-property") REPLY="@any" ;;
        "reconcile|--format"|"reconcile|-f") REPLY="table json csv" ;;
        "reconcile|--config") REPLY="@file" ;;
        "reconcile|--account") REPLY="@any" ;;
        "reconcile|--state-dir") REPLY="@dir" ;;
        "reconcile|--link-key") REPLY="@any" ;;
        "reconcile|--oa") REPLY="@any" ;;
        "reconcile|--klaviyo-base-url") REPLY="@any" ;;
        "reconcile|--line-base-url") REPLY="@any" ;;
        "reconcile|--timeout") REPLY="@any" ;;
        "reconcile|--retries") REPLY="@any" ;;
        "segments|--config") REPLY="@file" ;;
        "segments|--account") REPLY="@any" ;;
        "segments|--state-dir") REPLY="@dir" ;;
        "segments|--link-key") REPLY="@any" ;;
        "segments|--oa") REPLY="@any" ;;
        "segments|--klaviyo-base-url") REPLY="@any" ;;
        "segments|--line-base-url") REPLY="@any" ;;
        "segments|--timeout") REPLY="@any" ;;
        "segments|--retries") REPLY="@any" ;;
        "segments presets|--format"|"segments presets|-f") REPLY="table json csv" ;;
        "segments presets|--config") REPLY="@file" ;;
        "segments presets|--account") REPLY="@any" ;;
        "segments presets|--state-dir") REPLY="@dir" ;;
        "segments presets|--link-key") REPLY="@any" ;;
        "segments presets|--oa") REPLY="@any" ;;
        "segments presets|--klaviyo-base-url") REPLY="@any" ;;
        "segments presets|--line-base-url") REPLY="@any" ;;
        "segments presets|--timeout") REPLY="@any" ;;
        "segments presets|--retries") REPLY="@any" ;;
        "segments create|--days") REPLY="@any" ;;
        "segments create|--window") REPLY="@any" ;;
        "segments create|--order-metric") REPLY="@any" ;;
        "segments create|--name") REPLY="@any" ;;
        "segments create|--format"|"segments create|-f") REPLY="table json" ;;
        "segments create|--config") REPLY="@file" ;;
        "segments create|--account") REPLY="@any" ;;
        "segments create|--state-dir") REPLY="@dir" ;;
        "segments create|--link-key") REPLY="@any" ;;
        "segments create|--oa") REPLY="@any" ;;
        "segments create|--klaviyo-base-url") REPLY="@any" ;;
        "segments create|--line-base-url") REPLY="@any" ;;
        "segments create|--timeout") REPLY="@any" ;;
        "segments create|--retries") REPLY="@any" ;;
        "config|--config") REPLY="@file" ;;
        "config|--account") REPLY="@any" ;;
        "config|--state-dir") REPLY="@dir" ;;
        "config|--link-key") REPLY="@any" ;;
        "config|--oa") REPLY="@any" ;;
        "config|--klaviyo-base-url") REPLY="@any" ;;
        "config|--line-base-url") REPLY="@any" ;;
        "config|--timeout") REPLY="@any" ;;
        "config|--retries") REPLY="@any" ;;
        "config show|--format"|"config show|-f") REPLY="table json csv" ;;
        "config show|--config") REPLY="@file" ;;
        "config show|--account") REPLY="@any" ;;
        "config show|--state-dir") REPLY="@dir" ;;
        "config show|--link-key") REPLY="@any" ;;
        "config show|--oa") REPLY="@any" ;;
        "config show|--klaviyo-base-url") REPLY="@any" ;;
        "config show|--line-base-url") REPLY="@any" ;;
        "config show|--timeout") REPLY="@any" ;;
        "config show|--retries") REPLY="@any" ;;
        "config path|--format"|"config path|-f") REPLY="table json csv" ;;
        "config path|--config") REPLY="@file" ;;
        "config path|--account") REPLY="@any" ;;
        "config path|--state-dir") REPLY="@dir" ;;
        "config path|--link-key") REPLY="@any" ;;
        "config path|--oa") REPLY="@any" ;;
        "config path|--klaviyo-base-url") REPLY="@any" ;;
        "config path|--line-base-url") REPLY="@any" ;;
        "config path|--timeout") REPLY="@any" ;;
        "config path|--retries") REPLY="@any" ;;
        "config init|--format"|"config init|-f") REPLY="table json" ;;
        "config init|--config") REPLY="@file" ;;
        "config init|--account") REPLY="@any" ;;
        "config init|--state-dir") REPLY="@dir" ;;
        "config init|--link-key") REPLY="@any" ;;
        "config init|--oa") REPLY="@any" ;;
        "config init|--klaviyo-base-url") REPLY="@any" ;;
        "config init|--line-base-url") REPLY="@any" ;;
        "config init|--timeout") REPLY="@any" ;;
        "config init|--retries") REPLY="@any" ;;
        "config accounts|--format"|"config accounts|-f") REPLY="table json csv" ;;
        "config accounts|--config") REPLY="@file" ;;
        "config accounts|--account") REPLY="@any" ;;
        "config accounts|--state-dir") REPLY="@dir" ;;
        "config accounts|--link-key") REPLY="@any" ;;
        "config accounts|--oa") REPLY="@any" ;;
        "config accounts|--klaviyo-base-url") REPLY="@any" ;;
        "config accounts|--line-base-url") REPLY="@any" ;;
        "config accounts|--timeout") REPLY="@any" ;;
        "config accounts|--retries") REPLY="@any" ;;
        "sandbox|--config") REPLY="@file" ;;
        "sandbox|--account") REPLY="@any" ;;
        "sandbox|--state-dir") REPLY="@dir" ;;
        "sandbox|--link-key") REPLY="@any" ;;
        "sandbox|--oa") REPLY="@any" ;;
        "sandbox|--klaviyo-base-url") REPLY="@any" ;;
        "sandbox|--line-base-url") REPLY="@any" ;;
        "sandbox|--timeout") REPLY="@any" ;;
        "sandbox|--retries") REPLY="@any" ;;
        "sandbox start|--port") REPLY="@any" ;;
        "sandbox start|--seed") REPLY="@any" ;;
        "sandbox start|--faults") REPLY="@any" ;;
        "sandbox start|--latency-ms") REPLY="@any" ;;
        "sandbox start|--host") REPLY="@any" ;;
        "sandbox start|--config") REPLY="@file" ;;
        "sandbox start|--account") REPLY="@any" ;;
        "sandbox start|--state-dir") REPLY="@dir" ;;
        "sandbox start|--link-key") REPLY="@any" ;;
        "sandbox start|--oa") REPLY="@any" ;;
        "sandbox start|--klaviyo-base-url") REPLY="@any" ;;
        "sandbox start|--line-base-url") REPLY="@any" ;;
        "sandbox start|--timeout") REPLY="@any" ;;
        "sandbox start|--retries") REPLY="@any" ;;
        "sandbox stop|--config") REPLY="@file" ;;
        "sandbox stop|--account") REPLY="@any" ;;
        "sandbox stop|--state-dir") REPLY="@dir" ;;
        "sandbox stop|--link-key") REPLY="@any" ;;
        "sandbox stop|--oa") REPLY="@any" ;;
        "sandbox stop|--klaviyo-base-url") REPLY="@any" ;;
        "sandbox stop|--line-base-url") REPLY="@any" ;;
        "sandbox stop|--timeout") REPLY="@any" ;;
        "sandbox stop|--retries") REPLY="@any" ;;
        "sandbox env|--config") REPLY="@file" ;;
        "sandbox env|--account") REPLY="@any" ;;
        "sandbox env|--state-dir") REPLY="@dir" ;;
        "sandbox env|--link-key") REPLY="@any" ;;
        "sandbox env|--oa") REPLY="@any" ;;
        "sandbox env|--klaviyo-base-url") REPLY="@any" ;;
        "sandbox env|--line-base-url") REPLY="@any" ;;
        "sandbox env|--timeout") REPLY="@any" ;;
        "sandbox env|--retries") REPLY="@any" ;;
        "sandbox status|--format"|"sandbox status|-f") REPLY="table json csv" ;;
        "sandbox status|--config") REPLY="@file" ;;
        "sandbox status|--account") REPLY="@any" ;;
        "sandbox status|--state-dir") REPLY="@dir" ;;
        "sandbox status|--link-key") REPLY="@any" ;;
        "sandbox status|--oa") REPLY="@any" ;;
        "sandbox status|--klaviyo-base-url") REPLY="@any" ;;
        "sandbox status|--line-base-url") REPLY="@any" ;;
        "sandbox status|--timeout") REPLY="@any" ;;
        "sandbox status|--retries") REPLY="@any" ;;
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
        "segments create") REPLY="line-opened-not-clicked line-clicked-recently email-unopened-line-clicked line-blocked-recently line-clicked-then-ordered line-clicked-and-ordered line-linked" ;;
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
