
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
            cand completions 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
            cand generate 'Regenerate completions/ and man/ under DIR (for maintainers)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'p1ge0n;help;listen'= {
        }
        &'p1ge0n;help;send'= {
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
