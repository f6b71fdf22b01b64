
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
            cand proxy 'Sit between a client and a server (an HMI and a PLC): forward both ways, show and record every message'
            cand completions 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
            cand generate 'Regenerate completions/ and man/ under DIR (for maintainers)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'p1ge0n;listen'= {
            cand --join 'With -u: join the multicast GROUP (on the interface with address IFADDR; IPv6: @IFNAME or @INDEX); repeatable'
            cand --rules 'Answer by the rules in FILE (TOML): the first matching rule replies; see RULES below'
            cand --reply 'Answer every message with this payload instead of echoing it'
            cand --frame 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)'
            cand --max-frame 'Largest message a framing may produce; a larger one drops that connection'
            cand -f 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]'
            cand --format 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]'
            cand --decode 'Say what each message means: modbus, s7, auto or none (modbus and s7 imply their framing)'
            cand --count 'Exit after N messages (proxy: counting both directions)'
            cand --max-conns 'Serve at most N clients at once; more are closed at accept'
            cand --idle-timeout 'Close a connection after DUR without data (from the client; plain proxy: either way)'
            cand --allow 'Accept only clients from this network (repeatable); e.g. 10.0.0.0/8, ::1'
            cand --deny 'Refuse clients from this network (repeatable); deny wins over allow'
            cand --keepalive 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below'
            cand --tls-cert 'Serve TLS with this certificate chain (PEM); needs --tls-key'
            cand --tls-key 'The private key (PEM) of --tls-cert'
            cand --client-ca 'With TLS: require client certificates signed by a CA in FILE (PEM)'
            cand --handshake-timeout 'With TLS: drop a client that has not finished its handshake after DUR'
            cand --capture 'Record every event as JSON Lines in FILE (created mode 0600), for replay'
            cand --pcap 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open'
            cand -u 'Serve UDP: answer each datagram to its sender'
            cand --udp 'Serve UDP: answer each datagram to its sender'
            cand --no-echo 'Only print; do not echo'
            cand -x 'Payloads (--reply) are hex bytes'
            cand --hex 'Payloads (--reply) are hex bytes'
            cand -q 'Print no traffic records (connection events, errors and --verify results still print)'
            cand --quiet 'Print no traffic records (connection events, errors and --verify results still print)'
            cand --once 'Exit when the first client disconnects'
            cand --tls-self-signed 'Serve TLS with a certificate made now for localhost, 127.0.0.1 and ::1 (SHA-256 fingerprint on stderr)'
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
            cand --on-connect 'Send this payload first on every connection and reconnection (e.g. a login); see below'
            cand --expect 'The reply must equal this payload, else exit 5 (repeatable: one per message, or one for all)'
            cand --junit 'Write a JUnit XML report of the --expect checks to FILE (for CI dashboards)'
            cand --connect-timeout 'Give up connecting after DUR (exit 3); 0 waits as long as the system does'
            cand --source 'Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT'
            cand --keepalive 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below'
            cand --ca 'With --tls: trust the CA certificates in FILE (PEM) instead of the system''s'
            cand --pin 'With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it'
            cand --sni 'With --tls: the server name to ask for and check (default: the target''s host)'
            cand --cert 'With --tls: present this client certificate (PEM); needs --key'
            cand --key 'The private key (PEM) of --cert'
            cand --retry 'Keep trying to connect for up to DUR (for servers still booting)'
            cand --repeat 'Repeat the whole exchange N times on fresh connections (0: until interrupted)'
            cand --interval 'Start a repeat every DUR (from the start of one exchange to the start of the next)'
            cand --ttl 'With -u: the IP time-to-live (multicast: hop limit) of the datagrams, 1-255'
            cand -f 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]'
            cand --format 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]'
            cand --decode 'Say what each message means: modbus, s7, auto or none (modbus and s7 imply their framing)'
            cand --capture 'Record every event as JSON Lines in FILE (created mode 0600), for replay'
            cand --pcap 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open'
            cand -x 'Payloads and --expect are hex bytes'
            cand --hex 'Payloads and --expect are hex bytes'
            cand --no-reply 'Send without waiting for replies'
            cand --tls 'Speak TLS: verify the server against --ca, else the system''s CAs'
            cand --insecure 'With --tls: do not check the server''s certificate (a warning says so)'
            cand --keep-going 'With --repeat: go on after a failed cycle; at the end say how many failed and exit with the first failure''s status'
            cand --persistent 'With --repeat: poll over one connection, kept open between cycles (opened again, with --on-connect, only when it drops), instead of a new connection per cycle'
            cand -u 'Use UDP: each payload is one datagram, each reply one datagram'
            cand --udp 'Use UDP: each payload is one datagram, each reply one datagram'
            cand --broadcast 'With -u: allow sending to a broadcast address (replies are taken from any address)'
            cand -q 'Print no traffic records (connection events, errors and --verify results still print)'
            cand --quiet 'Print no traffic records (connection events, errors and --verify results still print)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'p1ge0n;repl'= {
            cand --eol 'Terminator appended to each line: none, lf, crlf, cr or a payload [default: lf; none with -x]'
            cand --frame 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)'
            cand --max-frame 'Largest message a framing may produce; a larger one drops that connection'
            cand -f 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]'
            cand --format 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]'
            cand --decode 'Say what each message means: modbus, s7, auto or none (modbus and s7 imply their framing)'
            cand --history 'History file (default: $XDG_STATE_HOME/p1ge0n/history, else ~/.local/state/p1ge0n/history)'
            cand --on-connect 'Send this payload first on every connection and reconnection (e.g. a login); see below'
            cand --idle 'A reply is complete after this much silence following its first byte'
            cand -w 'Give up waiting for a reply after DUR (exit 4); 0 waits forever'
            cand --timeout 'Give up waiting for a reply after DUR (exit 4); 0 waits forever'
            cand --connect-timeout 'Give up connecting after DUR (exit 3); 0 waits as long as the system does'
            cand --source 'Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT'
            cand --keepalive 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below'
            cand --ca 'With --tls: trust the CA certificates in FILE (PEM) instead of the system''s'
            cand --pin 'With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it'
            cand --sni 'With --tls: the server name to ask for and check (default: the target''s host)'
            cand --cert 'With --tls: present this client certificate (PEM); needs --key'
            cand --key 'The private key (PEM) of --cert'
            cand --capture 'Record every event as JSON Lines in FILE (created mode 0600), for replay'
            cand --pcap 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open'
            cand -x 'Start in hex mode: each line is hex bytes'
            cand --hex 'Start in hex mode: each line is hex bytes'
            cand -q 'Print no traffic records (connection events, errors and --verify results still print)'
            cand --quiet 'Print no traffic records (connection events, errors and --verify results still print)'
            cand --reconnect 'Reconnect automatically, with backoff, when the connection is lost'
            cand --tls 'Speak TLS: verify the server against --ca, else the system''s CAs'
            cand --insecure 'With --tls: do not check the server''s certificate (a warning says so)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'p1ge0n;replay'= {
            cand --junit 'Write a JUnit XML report of the checked messages to FILE (for CI dashboards)'
            cand --flow 'Replay only flow N (see --list); repeatable'
            cand --speed 'Play the captured timing X times faster'
            cand --interval 'A fixed pause between messages instead of the captured timing'
            cand --loop 'Replay (or serve) the whole file N times; 0: until interrupted'
            cand --frame 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)'
            cand --max-frame 'Largest message a framing may produce; a larger one drops that connection'
            cand -w 'Give up waiting for a reply after DUR (exit 4); 0 waits forever'
            cand --timeout 'Give up waiting for a reply after DUR (exit 4); 0 waits forever'
            cand --connect-timeout 'Give up connecting after DUR (exit 3); 0 waits as long as the system does'
            cand --source 'Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT'
            cand --keepalive 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below'
            cand --ca 'With --tls: trust the CA certificates in FILE (PEM) instead of the system''s'
            cand --pin 'With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it'
            cand --sni 'With --tls: the server name to ask for and check (default: the target''s host)'
            cand --cert 'With --tls: present this client certificate (PEM); needs --key'
            cand --key 'The private key (PEM) of --cert'
            cand --tls-cert 'Serve TLS with this certificate chain (PEM); needs --tls-key'
            cand --tls-key 'The private key (PEM) of --tls-cert'
            cand --client-ca 'With TLS: require client certificates signed by a CA in FILE (PEM)'
            cand --handshake-timeout 'With TLS: drop a client that has not finished its handshake after DUR'
            cand -f 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]'
            cand --format 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]'
            cand --decode 'Say what each message means: modbus, s7, auto or none (modbus and s7 imply their framing)'
            cand --capture 'Record every event as JSON Lines in FILE (created mode 0600), for replay'
            cand --pcap 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open'
            cand --serve 'Play the server side instead: listen, and answer each client as the captured server did'
            cand --verify 'Compare every reply (with --serve: every client message) with the captured one; exit 5 on any difference'
            cand --list 'List the flows in the file and exit'
            cand --no-delay 'Send each message as soon as the previous reply is in'
            cand -x 'Script payloads are hex bytes'
            cand --hex 'Script payloads are hex bytes'
            cand --tls 'Speak TLS: verify the server against --ca, else the system''s CAs'
            cand --insecure 'With --tls: do not check the server''s certificate (a warning says so)'
            cand --tls-self-signed 'Serve TLS with a certificate made now for localhost, 127.0.0.1 and ::1 (SHA-256 fingerprint on stderr)'
            cand -q 'Print no traffic records (connection events, errors and --verify results still print)'
            cand --quiet 'Print no traffic records (connection events, errors and --verify results still print)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'p1ge0n;proxy'= {
            cand --frame 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)'
            cand --max-frame 'Largest message a framing may produce; a larger one drops that connection'
            cand -f 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]'
            cand --format 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]'
            cand --decode 'Say what each message means: modbus, s7, auto or none (modbus and s7 imply their framing)'
            cand --count 'Exit after N messages (proxy: counting both directions)'
            cand --max-conns 'Serve at most N clients at once; more are closed at accept'
            cand --idle-timeout 'Close a connection after DUR without data (from the client; plain proxy: either way)'
            cand --allow 'Accept only clients from this network (repeatable); e.g. 10.0.0.0/8, ::1'
            cand --deny 'Refuse clients from this network (repeatable); deny wins over allow'
            cand --connect-timeout 'Give up connecting after DUR (exit 3); 0 waits as long as the system does'
            cand --source 'Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT'
            cand --keepalive 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below'
            cand --ca 'With --tls: trust the CA certificates in FILE (PEM) instead of the system''s'
            cand --pin 'With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it'
            cand --sni 'With --tls: the server name to ask for and check (default: the target''s host)'
            cand --cert 'With --tls: present this client certificate (PEM); needs --key'
            cand --key 'The private key (PEM) of --cert'
            cand --tls-cert 'Serve TLS with this certificate chain (PEM); needs --tls-key'
            cand --tls-key 'The private key (PEM) of --tls-cert'
            cand --client-ca 'With TLS: require client certificates signed by a CA in FILE (PEM)'
            cand --handshake-timeout 'With TLS: drop a client that has not finished its handshake after DUR'
            cand -w 'With --share: how long a reply may take; a later one closes only the waiting client'
            cand --timeout 'With --share: how long a reply may take; a later one closes only the waiting client'
            cand --capture 'Record every event as JSON Lines in FILE (created mode 0600), for replay'
            cand --pcap 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open'
            cand -u 'Proxy UDP: each client address gets its own upstream socket (dropped after --idle-timeout, default 60s)'
            cand --udp 'Proxy UDP: each client address gets its own upstream socket (dropped after --idle-timeout, default 60s)'
            cand --share 'All clients share ONE upstream connection, one message at a time (needs --frame)'
            cand -q 'Print no traffic records (connection events, errors and --verify results still print)'
            cand --quiet 'Print no traffic records (connection events, errors and --verify results still print)'
            cand --once 'Exit when the first client disconnects'
            cand --tls 'Speak TLS: verify the server against --ca, else the system''s CAs'
            cand --insecure 'With --tls: do not check the server''s certificate (a warning says so)'
            cand --tls-self-signed 'Serve TLS with a certificate made now for localhost, 127.0.0.1 and ::1 (SHA-256 fingerprint on stderr)'
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
            cand proxy 'Sit between a client and a server (an HMI and a PLC): forward both ways, show and record every message'
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
        &'p1ge0n;help;proxy'= {
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
