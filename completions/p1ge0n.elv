
use builtin;
use str;

set edit:completion:arg-completer[p1ge0n] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'p1ge0n'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'p1ge0n'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand listen 'TCP/UDP echo server: accepts many clients, prints and echoes each message'
            cand send 'One-shot client: connect, send, wait for the reply, print it, exit with a meaningful status'
            cand repl 'Interactive client session with line editing, history and live incoming data'
            cand replay 'Resend the client side of a capture, pcap or script, with its timing, and check the replies'
            cand completions 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
            cand generate 'Regenerate completions/ and man/ under DIR (for maintainers)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'p1ge0n;listen'= {
            cand --reply 'Answer every message with this payload instead of echoing it'
            cand --frame 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)'
            cand --max-frame 'Largest message a framing may produce; a larger one drops that connection'
            cand -f 'Output format: text, hex, hexdump, json, raw'
            cand --format 'Output format: text, hex, hexdump, json, raw'
            cand --count 'Exit after N messages'
            cand --max-conns 'Serve at most N clients at once; more are closed at accept'
            cand --idle-timeout 'Close a connection after DUR without data from the client'
            cand --allow 'Accept only clients from this network (repeatable); e.g. 10.0.0.0/8, ::1'
            cand --deny 'Refuse clients from this network (repeatable); deny wins over allow'
            cand --capture 'Record every event as JSON Lines in FILE (created mode 0600), for replay'
            cand -u 'Serve UDP: answer each datagram to its sender'
            cand --udp 'Serve UDP: answer each datagram to its sender'
            cand --no-echo 'Only print; do not echo'
            cand -x 'Payloads (--reply) are hex bytes'
            cand --hex 'Payloads (--reply) are hex bytes'
            cand -q 'Do not print traffic records (connection events still go to stderr)'
            cand --quiet 'Do not print traffic records (connection events still go to stderr)'
            cand --once 'Exit when the first client disconnects'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'p1ge0n;send'= {
            cand --eol 'Terminator appended to each payload: none, lf, crlf, cr or a payload'
            cand --frame 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)'
            cand --max-frame 'Largest message a framing may produce; a larger one drops that connection'
            cand --replies 'With --frame: how many frames make one reply'
            cand --idle 'A reply is complete after this much silence following its first byte'
            cand -w 'Give up waiting for a reply after DUR (exit 4); 0 waits forever'
            cand --timeout 'Give up waiting for a reply after DUR (exit 4); 0 waits forever'
            cand --expect 'The reply must equal this payload, else exit 5 (repeatable: one per message, or one for all)'
            cand --connect-timeout 'Give up connecting after DUR (exit 3)'
            cand --retry 'Keep trying to connect for up to DUR (for servers still booting)'
            cand --repeat 'Repeat the whole exchange N times on fresh connections (0: until interrupted)'
            cand --interval 'Pause between repeats'
            cand -f 'Output format: raw (default), text, hex, hexdump, json'
            cand --format 'Output format: raw (default), text, hex, hexdump, json'
            cand --capture 'Record every event as JSON Lines in FILE (created mode 0600), for replay'
            cand -x 'Payloads and --expect are hex bytes'
            cand --hex 'Payloads and --expect are hex bytes'
            cand --no-reply 'Send without waiting for replies'
            cand -u 'Use UDP: each payload is one datagram, each reply one datagram'
            cand --udp 'Use UDP: each payload is one datagram, each reply one datagram'
            cand -q 'Print nothing on stdout (the exit status still tells)'
            cand --quiet 'Print nothing on stdout (the exit status still tells)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'p1ge0n;repl'= {
            cand --eol 'Terminator appended to each line: none, lf, crlf, cr or a payload'
            cand --frame 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)'
            cand --max-frame 'Largest message a framing may produce; a larger one drops that connection'
            cand -f 'How incoming data is shown: text, hex, hexdump, json, raw'
            cand --format 'How incoming data is shown: text, hex, hexdump, json, raw'
            cand --history 'History file (default: $XDG_STATE_HOME/p1ge0n/history, else ~/.local/state/p1ge0n/history)'
            cand -w 'Piped input: after the last line, wait at most DUR for its reply'
            cand --timeout 'Piped input: after the last line, wait at most DUR for its reply'
            cand --idle 'Piped input: a reply is complete after this much silence'
            cand --connect-timeout 'Give up connecting after DUR (exit 3)'
            cand --capture 'Record the session as a JSON Lines capture'
            cand -x 'Start in hex mode: each line is hex bytes'
            cand --hex 'Start in hex mode: each line is hex bytes'
            cand --reconnect 'Reconnect automatically, with backoff, when the connection is lost'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'p1ge0n;replay'= {
            cand --flow 'Replay only flow N (see --list); repeatable'
            cand --speed 'Play the captured timing X times faster'
            cand --interval 'A fixed pause between messages instead of the captured timing'
            cand --loop 'Replay the whole file N times'
            cand --frame 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)'
            cand --max-frame 'Largest message a framing may produce; a larger one drops that connection'
            cand -w 'Give up waiting for a reply after DUR (exit 4)'
            cand --timeout 'Give up waiting for a reply after DUR (exit 4)'
            cand --connect-timeout 'Give up connecting after DUR (exit 3)'
            cand -f 'Show traffic on stdout as text, hex, hexdump, json or raw (default: text; none with --verify)'
            cand --format 'Show traffic on stdout as text, hex, hexdump, json or raw (default: text; none with --verify)'
            cand --verify 'Compare every reply with the captured one; exit 5 on any difference'
            cand --list 'List the flows in the file and exit'
            cand --no-delay 'Send each message as soon as the previous reply is in'
            cand -x 'Script payloads are hex bytes'
            cand --hex 'Script payloads are hex bytes'
            cand -q 'Do not print traffic records (verification results still go to stderr)'
            cand --quiet 'Do not print traffic records (verification results still go to stderr)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'p1ge0n;completions'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'p1ge0n;generate'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'p1ge0n;help'= {
            cand listen 'TCP/UDP echo server: accepts many clients, prints and echoes each message'
            cand send 'One-shot client: connect, send, wait for the reply, print it, exit with a meaningful status'
            cand repl 'Interactive client session with line editing, history and live incoming data'
            cand replay 'Resend the client side of a capture, pcap or script, with its timing, and check the replies'
            cand completions 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
            cand generate 'Regenerate completions/ and man/ under DIR (for maintainers)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'p1ge0n;help;listen'= {
        }
        &'p1ge0n;help;send'= {
        }
        &'p1ge0n;help;repl'= {
        }
        &'p1ge0n;help;replay'= {
        }
        &'p1ge0n;help;completions'= {
        }
        &'p1ge0n;help;generate'= {
        }
        &'p1ge0n;help;help'= {
        }
    ]
    $completions[$command]
}
