# fish completion for linesync; generated from the linesync command tree by `python -m linesync_cli.completion_gen`; do not edit.
# Install: copy to ~/.config/fish/completions/linesync.fish

# Subcommands of a command path ("" is the root).
function __linesync_subcommands
    switch $argv[1]
        case ''
            echo backfill links check-link inspect-profile doctor metrics events report segments config sandbox
        case 'backfill'
            echo runs verify
        case 'links'
            echo sync status
        case 'metrics'
            echo show
        case 'events'
            echo pull status export
        case 'report'
            echo funnel broadcasts
        case 'segments'
            echo presets create
        case 'config'
            echo show accounts
        case 'sandbox'
            echo start stop env status
    end
end

# Succeeds when option $argv[2] of command path $argv[1] takes a value.
function __linesync_takes_value
    switch $argv[1]
        case ''
            contains -- $argv[2] --config --account --state-dir --link-key --oa --klaviyo-base-url --line-base-url
        case 'backfill'
            contains -- $argv[2] --format -f --input-format --encoding --timezone --tz --since --until --only --limit --out --link-map --rejects --unlinked --workers
        case 'backfill runs'
            contains -- $argv[2] --format -f --limit
        case 'backfill verify'
            contains -- $argv[2] --settle --sample --missing --readers --format -f
        case 'links sync'
            contains -- $argv[2] --segment --format -f
        case 'links status'
            contains -- $argv[2] --format -f
        case 'check-link'
            contains -- $argv[2] --file --email --link-map --timezone --tz --format -f
        case 'inspect-profile'
            contains -- $argv[2] --email --phone --profile-id --external-id --line-user-id --link-map --since --until --limit --timezone --tz --format -f
        case 'doctor'
            contains -- $argv[2] --only --skip --since --line-user-id --message --segment --link-map --format -f
        case 'metrics'
            contains -- $argv[2] --format -f
        case 'metrics show'
            contains -- $argv[2] --since --until --interval --timezone --tz --feed --format -f
        case 'events pull'
            contains -- $argv[2] --since --until --metric -m --overlap --readers --format -f
        case 'events status'
            contains -- $argv[2] --format -f
        case 'events export'
            contains -- $argv[2] --format -f --since --until --metric -m
        case 'report funnel'
            contains -- $argv[2] --since --until --interval --timezone --tz --format -f
        case 'report broadcasts'
            contains -- $argv[2] --since --until --by --format -f
        case 'segments presets'
            contains -- $argv[2] --format -f
        case 'segments create'
            contains -- $argv[2] --days --name --format -f
        case 'config show'
            contains -- $argv[2] --format -f
        case 'config accounts'
            contains -- $argv[2] --format -f
        case 'sandbox start'
            contains -- $argv[2] --port --seed --faults --latency-ms --host
        case 'sandbox status'
            contains -- $argv[2] --format -f
        case '*'
            return 1
    end
end

# The command path of the command line before the cursor, e.g. "links sync".
function __linesync_path
    set -l cmdpath ''
    set -l skip 0
    for word in (commandline -opc)[2..-1]
        if test $skip -eq 1
            set skip 0
        else if string match -q -- '-*' $word
            if not string match -q -- '*=*' $word; and __linesync_takes_value "$cmdpath" $word
                set skip 1
            end
        else if contains -- $word (string split ' ' -- (__linesync_subcommands "$cmdpath"))
            set cmdpath (string trim -- "$cmdpath $word")
        end
    end
    echo $cmdpath
end

function __linesync_at
    set -l cmdpath (__linesync_path)
    test "$cmdpath" = "$argv[1]"
end

# Candidates for the word after the last comma of a comma-separated value.
function __linesync_comma_list
    set -l done (string replace -r '[^,]*$' '' -- (commandline -ct | string replace -r '^--[^=]*=' ''))
    printf '%s
' $done$argv
end

complete -c linesync -f
complete -c linesync -n "__linesync_at ''" -a backfill -d 'Load historical LINE actions into Klaviyo exactly once, on linked profiles only (`linesync backfill runs` lists runs)'
complete -c linesync -n "__linesync_at ''" -a links -d 'The local link index that finds the Klaviyo profile for a LINE user ID (property link keys)'
complete -c linesync -n "__linesync_at ''" -a check-link -d 'Check that LINE users are linked to Klaviyo profiles: only linked users\' LINE actions are recorded'
complete -c linesync -n "__linesync_at ''" -a inspect-profile -d 'Show a profile\'s LINE properties and its events in time order: LINE, email, SMS and others together'
complete -c linesync -n "__linesync_at ''" -a doctor -d 'Run the troubleshooting checklist: configuration, the Klaviyo key and its scopes, the nine LINE metrics and their latest events, linkage, trackable messages, segments and the LINE token'
complete -c linesync -n "__linesync_at ''" -a metrics -d 'LINE metrics in Klaviyo: which of the nine have received events'
complete -c linesync -n "__linesync_at ''" -a events -d 'The local mirror of the events Klaviyo holds (read back with Get Events, kept in DuckDB)'
complete -c linesync -n "__linesync_at ''" -a report -d 'Reports: the LINE funnel from Klaviyo\'s aggregates, and per-broadcast figures from the event mirror'
complete -c linesync -n "__linesync_at ''" -a segments -d 'Klaviyo Segments from LINE reactions (not the messaging platform\'s recipient segments)'
complete -c linesync -n "__linesync_at ''" -a config -d 'Show the effective configuration and the named accounts'
complete -c linesync -n "__linesync_at ''" -a sandbox -d 'A local Klaviyo and LINE on loopback, seeded with a demo account: try every command offline'
complete -c linesync -n "__linesync_at ''" -l config -r -F -d 'Config file (TOML)'
complete -c linesync -n "__linesync_at ''" -l account -x -d 'Named account: an [accounts.NAME] table of the config file, with its own state directory'
complete -c linesync -n "__linesync_at ''" -l state-dir -x -a '(__fish_complete_directories)' -d 'Local state: link index, backfill ledger, rejects'
complete -c linesync -n "__linesync_at ''" -l link-key -x -d 'How profiles are linked: "property:<name>" or "external_id"'
complete -c linesync -n "__linesync_at ''" -l oa -x -d 'LINE Official Account N: short for --link-key "property:LINE User ID N" (1 is "LINE User ID")'
complete -c linesync -n "__linesync_at ''" -l klaviyo-base-url -x -d 'Klaviyo API base URL'
complete -c linesync -n "__linesync_at ''" -l line-base-url -x -d 'LINE API base URL'
complete -c linesync -n "__linesync_at ''" -l verbose -s v -d 'Log each HTTP request (method, URL, status, time) to stderr; never secrets'
complete -c linesync -n "__linesync_at ''" -l debug -d 'Show tracebacks for errors'
complete -c linesync -n "__linesync_at ''" -l no-color -d 'No colour (NO_COLOR is honoured too)'
complete -c linesync -n "__linesync_at ''" -l version -d 'Show the version and exit'
complete -c linesync -n "__linesync_at ''" -l install-completion -d 'Install completion for the current shell'
complete -c linesync -n "__linesync_at ''" -l show-completion -d 'Show completion for the current shell, to copy it or customize the installation'
complete -c linesync -n "__linesync_at ''" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'backfill'" -a runs -d 'List backfill runs recorded in the ledger, newest first, with their counts'
complete -c linesync -n "__linesync_at 'backfill'" -a verify -d 'Check which events of a backfill run Klaviyo holds: stored, missing, not visible yet'
complete -c linesync -n "__linesync_at 'backfill'" -l format -s f -x -a 'table json csv jsonl line-webhook' -d 'Output: table (default) or json'
complete -c linesync -n "__linesync_at 'backfill'" -l input-format -x -a 'csv jsonl line-webhook' -d 'The input format (same as --format csv|jsonl|line-webhook)'
complete -c linesync -n "__linesync_at 'backfill'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'backfill'" -l encoding -x -d 'Text encoding of the input files (e.g'
complete -c linesync -n "__linesync_at 'backfill'" -l timezone -l tz -x -d 'IANA zone for times without a UTC offset (in the input and in --since/--until); without it such times are rejected'
complete -c linesync -n "__linesync_at 'backfill'" -l since -x -d 'Only actions at or after this time: 30d, 12h, 2026-03-01 or an ISO 8601 time'
complete -c linesync -n "__linesync_at 'backfill'" -l until -x -d 'Only actions before this time (same forms as --since)'
complete -c linesync -n "__linesync_at 'backfill'" -l only -x -a '(__linesync_comma_list sent delivered failed opened clicked followed blocked qr_scanned linked)' -d 'Only these actions, comma-separated (e.g'
complete -c linesync -n "__linesync_at 'backfill'" -l limit -x -d 'Stop reading after N actions have passed the filters (for a trial run)'
complete -c linesync -n "__linesync_at 'backfill'" -l dry-run -d 'Do everything but send: read, validate, resolve and batch; no API key needed with an offline linkage'
complete -c linesync -n "__linesync_at 'backfill'" -l out -x -a '(__fish_complete_directories)' -d 'With --dry-run: write each request body to DIR/batch-NNNNNN.json'
complete -c linesync -n "__linesync_at 'backfill'" -l link-map -r -F -d 'CSV of line_user_id and profile_id (offline), email or phone_number, instead of the configured linkage'
complete -c linesync -n "__linesync_at 'backfill'" -l rejects -r -F -d 'Where to write rejected records (JSON Lines)'
complete -c linesync -n "__linesync_at 'backfill'" -l unlinked -r -F -d 'Write the unlinked and ambiguous LINE user IDs with their action counts (CSV)'
complete -c linesync -n "__linesync_at 'backfill'" -l trigger-flows -d 'Send with backfill: false, so Flows triggered by these metrics START for old events'
complete -c linesync -n "__linesync_at 'backfill'" -l yes -s y -d 'Do not ask for confirmation (with --trigger-flows)'
complete -c linesync -n "__linesync_at 'backfill'" -l restart -d 'Start over instead of resuming the earlier run of the same inputs and options'
complete -c linesync -n "__linesync_at 'backfill'" -l workers -x -d 'Requests in flight at once (the rate limit still applies)'
complete -c linesync -n "__linesync_at 'backfill'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'backfill'" -F
complete -c linesync -n "__linesync_at 'backfill runs'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'backfill runs'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'backfill runs'" -l limit -x -d 'Show the N most recent runs'
complete -c linesync -n "__linesync_at 'backfill runs'" -l all-accounts -d 'One row per named account of the config file: its latest run and how many there are'
complete -c linesync -n "__linesync_at 'backfill runs'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'backfill verify'" -l settle -x -d 'Events sent less than this long ago count as "not visible yet", never as missing (Klaviyo takes minutes to show events)'
complete -c linesync -n "__linesync_at 'backfill verify'" -l sample -x -d 'Check N random events of the run with one-profile reads: fast confidence on a huge run'
complete -c linesync -n "__linesync_at 'backfill verify'" -l missing -r -F -d 'Write the missing events as an actions file (JSON Lines) that `linesync backfill` accepts'
complete -c linesync -n "__linesync_at 'backfill verify'" -l resend -d 'Send the missing events again (safe: the same unique_id is never recorded twice)'
complete -c linesync -n "__linesync_at 'backfill verify'" -l readers -x -d 'Parallel readers of Get Events'
complete -c linesync -n "__linesync_at 'backfill verify'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'backfill verify'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'backfill verify'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'links'" -a sync -d 'Build or refresh the link index from the profiles that carry the link property'
complete -c linesync -n "__linesync_at 'links'" -a status -d 'Show the link index\'s age and counts for the configured link key, then every link index in the state dir'
complete -c linesync -n "__linesync_at 'links'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'links sync'" -l segment -x -d 'Read only the members of this segment (ID)'
complete -c linesync -n "__linesync_at 'links sync'" -l full -d 'Read every profile again instead of only those updated since the last sync'
complete -c linesync -n "__linesync_at 'links sync'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'links sync'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'links sync'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'links status'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'links status'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'links status'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'check-link'" -l file -r -F -d 'Read LINE user IDs from FILE (one per line, or a CSV with a line_user_id column; - for standard input)'
complete -c linesync -n "__linesync_at 'check-link'" -l email -x -d 'Also check whether the profile with this email carries the LINE user ID, and which one it carries instead'
complete -c linesync -n "__linesync_at 'check-link'" -l link-map -r -F -d 'Resolve through this CSV (line_user_id + profile_id, email or phone_number) instead of the configured link key'
complete -c linesync -n "__linesync_at 'check-link'" -l timezone -l tz -x -d 'IANA time zone for shown times (default: this machine\'s)'
complete -c linesync -n "__linesync_at 'check-link'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'check-link'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'check-link'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l email -x -d 'Find the profile by email'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l phone -x -d 'Find the profile by phone number (E.164, e.g'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l profile-id -x -d 'The Klaviyo profile ID'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l external-id -x -d 'Find the profile by external_id'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l line-user-id -x -d 'Find the profile linked to this LINE user ID (through the configured link key or --link-map)'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l link-map -r -F -d 'With --line-user-id: resolve through this CSV instead of the link key'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l since -x -d 'Only events at or after this: a duration (30d, 12h, 2w) or an ISO date/time (a date is read in --timezone)'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l until -x -d 'Only events before this (same forms as --since)'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l limit -x -d 'Show at most this many of the newest events'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l line-only -d 'Only LINE events'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l reverse -d 'Newest first (default: oldest first)'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l timezone -l tz -x -d 'IANA time zone for shown times and date ranges (default: this machine\'s)'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'inspect-profile'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'doctor'" -l only -x -a '(__linesync_comma_list config klaviyo-auth klaviyo-scopes line-metrics metric-split recent-events link-index linkage trackable-message open-vs-read segment-processing line-token)' -d 'Report only these checks (their prerequisites still run, unreported)'
complete -c linesync -n "__linesync_at 'doctor'" -l skip -x -a '(__linesync_comma_list config klaviyo-auth klaviyo-scopes line-metrics metric-split recent-events link-index linkage trackable-message open-vs-read segment-processing line-token)' -d 'Leave these checks out of the report'
complete -c linesync -n "__linesync_at 'doctor'" -l since -x -d 'recent-events: warn for a LINE metric with no event since then: a duration (24h, 7d) or an ISO date/time (UTC unless it has an offset)'
complete -c linesync -n "__linesync_at 'doctor'" -l line-user-id -x -d 'Check this LINE user\'s linkage (and, with --segment, membership)'
complete -c linesync -n "__linesync_at 'doctor'" -l message -r -F -d 'Check a LINE message JSON file (a message, an array of them, or a request body with `messages`; - for stdin) for trackable links and images'
complete -c linesync -n "__linesync_at 'doctor'" -l segment -x -d 'Check this Klaviyo Segment: still processing?'
complete -c linesync -n "__linesync_at 'doctor'" -l link-map -r -F -d 'Resolve --line-user-id through this CSV (line_user_id + profile_id/email/phone_number) instead of the configured link key'
complete -c linesync -n "__linesync_at 'doctor'" -l strict -d 'Exit 1 on warnings too'
complete -c linesync -n "__linesync_at 'doctor'" -l ci -d 'For CI: no colour, no prompts (doctor never prompts; the flag makes that explicit in scripts)'
complete -c linesync -n "__linesync_at 'doctor'" -l all-accounts -d 'Run the checks for every [accounts.NAME] of the config file, one after the other: a table with a row per account'
complete -c linesync -n "__linesync_at 'doctor'" -l details -s d -l verbose -s v -d 'Show each check\'s extra lines (the root option, `linesync -v doctor`, logs HTTP requests and implies this)'
complete -c linesync -n "__linesync_at 'doctor'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'doctor'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'doctor'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'metrics'" -a show -d 'One LINE metric as Klaviyo\'s metric page shows it: counts over time and recent activity'
complete -c linesync -n "__linesync_at 'metrics'" -l allow-missing -d 'Exit 0 even when some of the nine metrics are missing'
complete -c linesync -n "__linesync_at 'metrics'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'metrics'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'metrics'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'metrics show'" -l since -x -d 'Start of the range: a duration back from now (30d, 12h, 2w; counted from the start of that interval) or an ISO 8601 date/time (dates in --timezone)'
complete -c linesync -n "__linesync_at 'metrics show'" -l until -x -d 'End of the range, exclusive (same forms as --since)'
complete -c linesync -n "__linesync_at 'metrics show'" -l interval -x -a 'hour day week' -d 'One bar per hour, day or week'
complete -c linesync -n "__linesync_at 'metrics show'" -l timezone -l tz -x -d 'IANA time zone for shown times and date ranges (default: this machine\'s)'
complete -c linesync -n "__linesync_at 'metrics show'" -l feed -x -d 'How many of the most recent events to list (0: none, at most 1000)'
complete -c linesync -n "__linesync_at 'metrics show'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'metrics show'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'metrics show'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'metrics show'" -a 'sent delivered failed opened clicked followed blocked qr_scanned linked'
complete -c linesync -n "__linesync_at 'events'" -a pull -d 'Read the LINE metrics\' events from Klaviyo into the mirror in the state directory'
complete -c linesync -n "__linesync_at 'events'" -a status -d 'What the mirror holds: per metric, its events, their times, the range read and when'
complete -c linesync -n "__linesync_at 'events'" -a export -d 'Write the mirror as files partitioned by metric and UTC day, as warehouses load them'
complete -c linesync -n "__linesync_at 'events'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'events pull'" -l since -x -d 'Start: a duration back from now (30d, 12h, 2w) or an ISO 8601 date/time (UTC when no offset)'
complete -c linesync -n "__linesync_at 'events pull'" -l until -x -d 'End (exclusive), same forms as --since'
complete -c linesync -n "__linesync_at 'events pull'" -l metric -s m -x -d 'A LINE metric to read (short name or event name); repeat for several'
complete -c linesync -n "__linesync_at 'events pull'" -l overlap -x -d 'Re-read this much before the newest time already mirrored: events can arrive with old times (a backfill writes last year\'s events today)'
complete -c linesync -n "__linesync_at 'events pull'" -l full -d 'Read the whole range again and drop mirrored events Klaviyo no longer holds in it'
complete -c linesync -n "__linesync_at 'events pull'" -l compare-email -d 'Mirror Klaviyo\'s Received, Opened and Clicked Email too'
complete -c linesync -n "__linesync_at 'events pull'" -l readers -x -d 'Parallel readers (Get Events allows 3,500 requests a minute per account)'
complete -c linesync -n "__linesync_at 'events pull'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'events pull'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'events pull'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'events status'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'events status'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'events status'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'events export'" -l format -s f -x -a 'parquet csv jsonl' -d 'File format of the partitions'
complete -c linesync -n "__linesync_at 'events export'" -l since -x -d 'Only events from this time (duration or ISO 8601)'
complete -c linesync -n "__linesync_at 'events export'" -l until -x -d 'End (exclusive), same forms as --since'
complete -c linesync -n "__linesync_at 'events export'" -l metric -s m -x -d 'A LINE metric to read (short name or event name); repeat for several'
complete -c linesync -n "__linesync_at 'events export'" -l json -d 'Say what was written as a JSON object on stdout'
complete -c linesync -n "__linesync_at 'events export'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'events export'" -F
complete -c linesync -n "__linesync_at 'report'" -a funnel -d 'Total events and unique people for Sent → Delivered → Opened → Clicked LINE Message'
complete -c linesync -n "__linesync_at 'report'" -a broadcasts -d 'Sent, Delivered, Failed, Opened and Clicked per broadcast: Total events and Unique people'
complete -c linesync -n "__linesync_at 'report'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'report funnel'" -l since -x -d 'Start: a duration back from now (30d, 12h, 2w) or an ISO 8601 date/time (a date is read in --timezone)'
complete -c linesync -n "__linesync_at 'report funnel'" -l until -x -d 'End (exclusive), same forms as --since; a --since duration counts back from it'
complete -c linesync -n "__linesync_at 'report funnel'" -l interval -x -a 'hour day week month' -d 'Bucket size of the series (--chart, JSON)'
complete -c linesync -n "__linesync_at 'report funnel'" -l timezone -l tz -x -d 'IANA time zone for shown times and date ranges (default: this machine\'s)'
complete -c linesync -n "__linesync_at 'report funnel'" -l compare-email -d 'Add Klaviyo\'s Received, Opened and Clicked Email beside the LINE funnel'
complete -c linesync -n "__linesync_at 'report funnel'" -l chart -d 'Draw counts over time (on stderr with --format json/csv)'
complete -c linesync -n "__linesync_at 'report funnel'" -l exact -d 'Exact Unique over any range, counted from the event mirror (pulled as needed) instead of Klaviyo\'s per-month uniques'
complete -c linesync -n "__linesync_at 'report funnel'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'report funnel'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'report funnel'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'report broadcasts'" -l since -x -d 'Start: a duration back from now (14d, 12h, 2w) or an ISO 8601 date/time (UTC when no offset)'
complete -c linesync -n "__linesync_at 'report broadcasts'" -l until -x -d 'End (exclusive), same forms as --since'
complete -c linesync -n "__linesync_at 'report broadcasts'" -l by -x -a 'broadcast flow workflow message' -d 'One row per Broadcast ID, Flow ID, Workflow ID or Message ID'
complete -c linesync -n "__linesync_at 'report broadcasts'" -l no-pull -d 'Report from the mirror as it is, without reading new events from Klaviyo first'
complete -c linesync -n "__linesync_at 'report broadcasts'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'report broadcasts'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'report broadcasts'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'segments'" -a presets -d 'List the segment presets, what they select and the metrics they need'
complete -c linesync -n "__linesync_at 'segments'" -a create -d 'Create a Klaviyo Segment from a preset (POST /api/segments)'
complete -c linesync -n "__linesync_at 'segments'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'segments presets'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'segments presets'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'segments presets'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'segments create'" -l days -x -d 'Look-back window in days for presets built on events [default: 30]'
complete -c linesync -n "__linesync_at 'segments create'" -l name -x -d 'Segment name (default: from the preset, e.g'
complete -c linesync -n "__linesync_at 'segments create'" -l dry-run -d 'Print the request body as JSON and create nothing'
complete -c linesync -n "__linesync_at 'segments create'" -l force -d 'Create even if a segment with this name exists (Klaviyo allows duplicate names)'
complete -c linesync -n "__linesync_at 'segments create'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'segments create'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'segments create'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'segments create'" -a 'line-opened-not-clicked line-clicked-recently email-unopened-line-clicked line-blocked-recently line-linked'
complete -c linesync -n "__linesync_at 'config'" -a show -d 'Print every setting, its value (secrets masked) and its source: flag, env, .env, config file or default'
complete -c linesync -n "__linesync_at 'config'" -a accounts -d 'List the named accounts of the config file ([accounts.NAME] tables) and which is the default'
complete -c linesync -n "__linesync_at 'config'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'config show'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'config show'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'config show'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'config accounts'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'config accounts'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'config accounts'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'sandbox'" -a start -d 'Serve a local Klaviyo and LINE on loopback, and print the exports that point linesync at them'
complete -c linesync -n "__linesync_at 'sandbox'" -a stop -d 'Stop the sandbox started with --detach (or in another terminal)'
complete -c linesync -n "__linesync_at 'sandbox'" -a env -d 'Print the export lines of the running sandbox (for eval, or to paste)'
complete -c linesync -n "__linesync_at 'sandbox'" -a status -d 'Is a sandbox running: its pid, URLs, seed, faults and whether both ports answer'
complete -c linesync -n "__linesync_at 'sandbox'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'sandbox start'" -l port -x -d 'Klaviyo\'s port; LINE gets the next one'
complete -c linesync -n "__linesync_at 'sandbox start'" -l seed -x -d 'demo (a shop with 300 profiles and four weeks of LINE and email events), empty, or a JSON Lines FILE'
complete -c linesync -n "__linesync_at 'sandbox start'" -l faults -x -d 'Probability (0-1) that a request gets a 5xx, a 429 or a dropped connection'
complete -c linesync -n "__linesync_at 'sandbox start'" -l latency-ms -x -d 'Delay every answer by N milliseconds'
complete -c linesync -n "__linesync_at 'sandbox start'" -l host -x -d 'Loopback address to listen on (127.x.x.x or localhost only)'
complete -c linesync -n "__linesync_at 'sandbox start'" -l detach -s d -d 'Run in the background; `linesync sandbox stop` stops it'
complete -c linesync -n "__linesync_at 'sandbox start'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'sandbox stop'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'sandbox env'" -l help -d 'Show this message and exit'
complete -c linesync -n "__linesync_at 'sandbox status'" -l format -s f -x -a 'table json csv' -d 'Output format: table (default), json or csv'
complete -c linesync -n "__linesync_at 'sandbox status'" -l json -d 'Short for --format json'
complete -c linesync -n "__linesync_at 'sandbox status'" -l help -d 'Show this message and exit'
