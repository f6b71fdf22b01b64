
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'p1ge0n' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'p1ge0n'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'p1ge0n' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('listen', 'listen', [CompletionResultType]::ParameterValue, 'TCP/UDP echo server: accepts many clients, prints and echoes each message')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'One-shot client: connect, send, wait for the reply, print it, exit with a meaningful status')
            [CompletionResult]::new('repl', 'repl', [CompletionResultType]::ParameterValue, 'Interactive client session with line editing, history and live incoming data')
            [CompletionResult]::new('replay', 'replay', [CompletionResultType]::ParameterValue, 'Resend the client side of a capture, pcap or script, with its timing, and check the replies')
            [CompletionResult]::new('proxy', 'proxy', [CompletionResultType]::ParameterValue, 'Sit between a client and a server (an HMI and a PLC): forward both ways, show and record every message')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (bash, zsh, fish, elvish, powershell)')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Regenerate completions/ and man/ under DIR (for maintainers)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'p1ge0n;listen' {
            [CompletionResult]::new('--join', '--join', [CompletionResultType]::ParameterName, 'With -u: join the multicast GROUP (on the interface with address IFADDR; IPv6: @IFNAME or @INDEX); repeatable')
            [CompletionResult]::new('--rules', '--rules', [CompletionResultType]::ParameterName, 'Answer by the rules in FILE (TOML): the first matching rule replies; see RULES below')
            [CompletionResult]::new('--reply', '--reply', [CompletionResultType]::ParameterName, 'Answer every message with this payload instead of echoing it')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Hand each connection to CMD (run by /bin/sh -c): the client''s bytes on its stdin, its stdout back; see PROGRAMS below')
            [CompletionResult]::new('--exec-each', '--exec-each', [CompletionResultType]::ParameterName, 'Run CMD once per message (by --frame; with -u per datagram): the message on stdin, its stdout is the reply')
            [CompletionResult]::new('--exec-max', '--exec-max', [CompletionResultType]::ParameterName, 'At most N programs of --exec-each (and rules'' exec) at once; more messages wait')
            [CompletionResult]::new('--exec-timeout', '--exec-timeout', [CompletionResultType]::ParameterName, 'Stop a program not done in DUR (and its process group): per message default 10s; per connection (--exec) none')
            [CompletionResult]::new('--frame', '--frame', [CompletionResultType]::ParameterName, 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)')
            [CompletionResult]::new('--max-frame', '--max-frame', [CompletionResultType]::ParameterName, 'Largest message a framing may produce; a larger one drops that connection')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]')
            [CompletionResult]::new('--decode', '--decode', [CompletionResultType]::ParameterName, 'Say what each message means: modbus, modbus-rtu, s7, enip, iec104, auto or none (each protocol implies its framing)')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Exit after N messages (proxy: counting both directions)')
            [CompletionResult]::new('--max-conns', '--max-conns', [CompletionResultType]::ParameterName, 'Serve at most N clients at once; more are closed at accept')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Close a connection after DUR without data (from the client; plain proxy: either way)')
            [CompletionResult]::new('--allow', '--allow', [CompletionResultType]::ParameterName, 'Accept only clients from this network (repeatable); e.g. 10.0.0.0/8, ::1')
            [CompletionResult]::new('--deny', '--deny', [CompletionResultType]::ParameterName, 'Refuse clients from this network (repeatable); deny wins over allow')
            [CompletionResult]::new('--keepalive', '--keepalive', [CompletionResultType]::ParameterName, 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Serve TLS with this certificate chain (PEM); needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'The private key (PEM) of --tls-cert')
            [CompletionResult]::new('--client-ca', '--client-ca', [CompletionResultType]::ParameterName, 'With TLS: require client certificates signed by a CA in FILE (PEM)')
            [CompletionResult]::new('--handshake-timeout', '--handshake-timeout', [CompletionResultType]::ParameterName, 'With TLS: drop a client that has not finished its handshake after DUR')
            [CompletionResult]::new('--capture', '--capture', [CompletionResultType]::ParameterName, 'Record every event as JSON Lines in FILE (created mode 0600), for replay')
            [CompletionResult]::new('--pcap', '--pcap', [CompletionResultType]::ParameterName, 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Serve UDP: answer each datagram to its sender')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'Serve UDP: answer each datagram to its sender')
            [CompletionResult]::new('--no-echo', '--no-echo', [CompletionResultType]::ParameterName, 'Only print; do not echo')
            [CompletionResult]::new('-x', '-x', [CompletionResultType]::ParameterName, 'Payloads (--reply) are hex bytes')
            [CompletionResult]::new('--hex', '--hex', [CompletionResultType]::ParameterName, 'Payloads (--reply) are hex bytes')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no traffic records (connection events, errors and --verify results still print)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no traffic records (connection events, errors and --verify results still print)')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'Exit when the first client disconnects')
            [CompletionResult]::new('--tls-self-signed', '--tls-self-signed', [CompletionResultType]::ParameterName, 'Serve TLS with a certificate made now for localhost, 127.0.0.1 and ::1 (SHA-256 fingerprint on stderr)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'p1ge0n;send' {
            [CompletionResult]::new('--request', '--request', [CompletionResultType]::ParameterName, 'Send a protocol request built for you, e.g. ''enip list-identity'' (repeatable, in place of PAYLOAD); see REQUESTS below')
            [CompletionResult]::new('--eol', '--eol', [CompletionResultType]::ParameterName, 'Terminator appended to each payload: none, lf, crlf, cr or a payload')
            [CompletionResult]::new('--frame', '--frame', [CompletionResultType]::ParameterName, 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)')
            [CompletionResult]::new('--max-frame', '--max-frame', [CompletionResultType]::ParameterName, 'Largest message a framing may produce; a larger one drops that connection')
            [CompletionResult]::new('--replies', '--replies', [CompletionResultType]::ParameterName, 'With --frame: how many frames make one reply')
            [CompletionResult]::new('--idle', '--idle', [CompletionResultType]::ParameterName, 'A reply is complete after this much silence following its first byte')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Give up waiting for a reply after DUR (exit 4); 0 waits forever')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up waiting for a reply after DUR (exit 4); 0 waits forever')
            [CompletionResult]::new('--on-connect', '--on-connect', [CompletionResultType]::ParameterName, 'Send this payload first on every connection and reconnection (e.g. a login); see below')
            [CompletionResult]::new('--expect', '--expect', [CompletionResultType]::ParameterName, 'The reply must equal this payload, else exit 5 (repeatable: one per message, or one for all)')
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Write a JUnit XML report of the --expect checks to FILE (for CI dashboards)')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after DUR (exit 3); 0 waits as long as the system does')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT')
            [CompletionResult]::new('--keepalive', '--keepalive', [CompletionResultType]::ParameterName, 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below')
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'With --tls: trust the CA certificates in FILE (PEM) instead of the system''s')
            [CompletionResult]::new('--pin', '--pin', [CompletionResultType]::ParameterName, 'With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it')
            [CompletionResult]::new('--sni', '--sni', [CompletionResultType]::ParameterName, 'With --tls: the server name to ask for and check (default: the target''s host)')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'With --tls: present this client certificate (PEM); needs --key')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The private key (PEM) of --cert')
            [CompletionResult]::new('--retry', '--retry', [CompletionResultType]::ParameterName, 'Keep trying to connect for up to DUR (for servers still booting)')
            [CompletionResult]::new('--repeat', '--repeat', [CompletionResultType]::ParameterName, 'Repeat the whole exchange N times on fresh connections (0: until interrupted)')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Start a repeat every DUR (from the start of one exchange to the start of the next)')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Connect, then hand the connection to CMD (run by /bin/sh -c): its stdout to the server, the server''s bytes to its stdin; exit with its status')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'With -u: the IP time-to-live (multicast: hop limit) of the datagrams, 1-255')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]')
            [CompletionResult]::new('--decode', '--decode', [CompletionResultType]::ParameterName, 'Say what each message means: modbus, modbus-rtu, s7, enip, iec104, auto or none (each protocol implies its framing)')
            [CompletionResult]::new('--capture', '--capture', [CompletionResultType]::ParameterName, 'Record every event as JSON Lines in FILE (created mode 0600), for replay')
            [CompletionResult]::new('--pcap', '--pcap', [CompletionResultType]::ParameterName, 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open')
            [CompletionResult]::new('-x', '-x', [CompletionResultType]::ParameterName, 'Payloads and --expect are hex bytes')
            [CompletionResult]::new('--hex', '--hex', [CompletionResultType]::ParameterName, 'Payloads and --expect are hex bytes')
            [CompletionResult]::new('--no-reply', '--no-reply', [CompletionResultType]::ParameterName, 'Send without waiting for replies')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Speak TLS: verify the server against --ca, else the system''s CAs')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'With --tls: do not check the server''s certificate (a warning says so)')
            [CompletionResult]::new('--keep-going', '--keep-going', [CompletionResultType]::ParameterName, 'With --repeat: go on after a failed cycle; at the end say how many failed and exit with the first failure''s status')
            [CompletionResult]::new('--persistent', '--persistent', [CompletionResultType]::ParameterName, 'With --repeat: poll over one connection, kept open between cycles (opened again, with --on-connect, only when it drops), instead of a new connection per cycle')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Use UDP: each payload is one datagram, each reply one datagram')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'Use UDP: each payload is one datagram, each reply one datagram')
            [CompletionResult]::new('--broadcast', '--broadcast', [CompletionResultType]::ParameterName, 'With -u: allow sending to a broadcast address (replies are taken from any address)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no traffic records (connection events, errors and --verify results still print)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no traffic records (connection events, errors and --verify results still print)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'p1ge0n;repl' {
            [CompletionResult]::new('--eol', '--eol', [CompletionResultType]::ParameterName, 'Terminator appended to each line: none, lf, crlf, cr or a payload [default: lf; none with -x]')
            [CompletionResult]::new('--frame', '--frame', [CompletionResultType]::ParameterName, 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)')
            [CompletionResult]::new('--max-frame', '--max-frame', [CompletionResultType]::ParameterName, 'Largest message a framing may produce; a larger one drops that connection')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]')
            [CompletionResult]::new('--decode', '--decode', [CompletionResultType]::ParameterName, 'Say what each message means: modbus, modbus-rtu, s7, enip, iec104, auto or none (each protocol implies its framing)')
            [CompletionResult]::new('--history', '--history', [CompletionResultType]::ParameterName, 'History file (default: $XDG_STATE_HOME/p1ge0n/history, else ~/.local/state/p1ge0n/history)')
            [CompletionResult]::new('--on-connect', '--on-connect', [CompletionResultType]::ParameterName, 'Send this payload first on every connection and reconnection (e.g. a login); see below')
            [CompletionResult]::new('--idle', '--idle', [CompletionResultType]::ParameterName, 'A reply is complete after this much silence following its first byte')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Give up waiting for a reply after DUR (exit 4); 0 waits forever')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up waiting for a reply after DUR (exit 4); 0 waits forever')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after DUR (exit 3); 0 waits as long as the system does')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT')
            [CompletionResult]::new('--keepalive', '--keepalive', [CompletionResultType]::ParameterName, 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below')
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'With --tls: trust the CA certificates in FILE (PEM) instead of the system''s')
            [CompletionResult]::new('--pin', '--pin', [CompletionResultType]::ParameterName, 'With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it')
            [CompletionResult]::new('--sni', '--sni', [CompletionResultType]::ParameterName, 'With --tls: the server name to ask for and check (default: the target''s host)')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'With --tls: present this client certificate (PEM); needs --key')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The private key (PEM) of --cert')
            [CompletionResult]::new('--capture', '--capture', [CompletionResultType]::ParameterName, 'Record every event as JSON Lines in FILE (created mode 0600), for replay')
            [CompletionResult]::new('--pcap', '--pcap', [CompletionResultType]::ParameterName, 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open')
            [CompletionResult]::new('-x', '-x', [CompletionResultType]::ParameterName, 'Start in hex mode: each line is hex bytes')
            [CompletionResult]::new('--hex', '--hex', [CompletionResultType]::ParameterName, 'Start in hex mode: each line is hex bytes')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no traffic records (connection events, errors and --verify results still print)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no traffic records (connection events, errors and --verify results still print)')
            [CompletionResult]::new('--reconnect', '--reconnect', [CompletionResultType]::ParameterName, 'Reconnect automatically, with backoff, when the connection is lost')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Speak TLS: verify the server against --ca, else the system''s CAs')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'With --tls: do not check the server''s certificate (a warning says so)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'p1ge0n;replay' {
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Write a JUnit XML report of the checked messages to FILE (for CI dashboards)')
            [CompletionResult]::new('--flow', '--flow', [CompletionResultType]::ParameterName, 'Replay only flow N (see --list); repeatable')
            [CompletionResult]::new('--speed', '--speed', [CompletionResultType]::ParameterName, 'Play the captured timing X times faster')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'A fixed pause between messages instead of the captured timing')
            [CompletionResult]::new('--loop', '--loop', [CompletionResultType]::ParameterName, 'Replay (or serve) the whole file N times; 0: until interrupted')
            [CompletionResult]::new('--frame', '--frame', [CompletionResultType]::ParameterName, 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)')
            [CompletionResult]::new('--max-frame', '--max-frame', [CompletionResultType]::ParameterName, 'Largest message a framing may produce; a larger one drops that connection')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Give up waiting for a reply after DUR (exit 4); 0 waits forever')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up waiting for a reply after DUR (exit 4); 0 waits forever')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after DUR (exit 3); 0 waits as long as the system does')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT')
            [CompletionResult]::new('--keepalive', '--keepalive', [CompletionResultType]::ParameterName, 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below')
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'With --tls: trust the CA certificates in FILE (PEM) instead of the system''s')
            [CompletionResult]::new('--pin', '--pin', [CompletionResultType]::ParameterName, 'With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it')
            [CompletionResult]::new('--sni', '--sni', [CompletionResultType]::ParameterName, 'With --tls: the server name to ask for and check (default: the target''s host)')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'With --tls: present this client certificate (PEM); needs --key')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The private key (PEM) of --cert')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Serve TLS with this certificate chain (PEM); needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'The private key (PEM) of --tls-cert')
            [CompletionResult]::new('--client-ca', '--client-ca', [CompletionResultType]::ParameterName, 'With TLS: require client certificates signed by a CA in FILE (PEM)')
            [CompletionResult]::new('--handshake-timeout', '--handshake-timeout', [CompletionResultType]::ParameterName, 'With TLS: drop a client that has not finished its handshake after DUR')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]')
            [CompletionResult]::new('--decode', '--decode', [CompletionResultType]::ParameterName, 'Say what each message means: modbus, modbus-rtu, s7, enip, iec104, auto or none (each protocol implies its framing)')
            [CompletionResult]::new('--capture', '--capture', [CompletionResultType]::ParameterName, 'Record every event as JSON Lines in FILE (created mode 0600), for replay')
            [CompletionResult]::new('--pcap', '--pcap', [CompletionResultType]::ParameterName, 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open')
            [CompletionResult]::new('--serve', '--serve', [CompletionResultType]::ParameterName, 'Play the server side instead: listen, and answer each client as the captured server did')
            [CompletionResult]::new('--verify', '--verify', [CompletionResultType]::ParameterName, 'Compare every reply (with --serve: every client message) with the captured one; exit 5 on any difference')
            [CompletionResult]::new('--list', '--list', [CompletionResultType]::ParameterName, 'List the flows in the file and exit')
            [CompletionResult]::new('--no-delay', '--no-delay', [CompletionResultType]::ParameterName, 'Send each message as soon as the previous reply is in')
            [CompletionResult]::new('-x', '-x', [CompletionResultType]::ParameterName, 'Script payloads are hex bytes')
            [CompletionResult]::new('--hex', '--hex', [CompletionResultType]::ParameterName, 'Script payloads are hex bytes')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Speak TLS: verify the server against --ca, else the system''s CAs')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'With --tls: do not check the server''s certificate (a warning says so)')
            [CompletionResult]::new('--tls-self-signed', '--tls-self-signed', [CompletionResultType]::ParameterName, 'Serve TLS with a certificate made now for localhost, 127.0.0.1 and ::1 (SHA-256 fingerprint on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no traffic records (connection events, errors and --verify results still print)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no traffic records (connection events, errors and --verify results still print)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'p1ge0n;proxy' {
            [CompletionResult]::new('--frame', '--frame', [CompletionResultType]::ParameterName, 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)')
            [CompletionResult]::new('--max-frame', '--max-frame', [CompletionResultType]::ParameterName, 'Largest message a framing may produce; a larger one drops that connection')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]')
            [CompletionResult]::new('--decode', '--decode', [CompletionResultType]::ParameterName, 'Say what each message means: modbus, modbus-rtu, s7, enip, iec104, auto or none (each protocol implies its framing)')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Exit after N messages (proxy: counting both directions)')
            [CompletionResult]::new('--max-conns', '--max-conns', [CompletionResultType]::ParameterName, 'Serve at most N clients at once; more are closed at accept')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Close a connection after DUR without data (from the client; plain proxy: either way)')
            [CompletionResult]::new('--allow', '--allow', [CompletionResultType]::ParameterName, 'Accept only clients from this network (repeatable); e.g. 10.0.0.0/8, ::1')
            [CompletionResult]::new('--deny', '--deny', [CompletionResultType]::ParameterName, 'Refuse clients from this network (repeatable); deny wins over allow')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after DUR (exit 3); 0 waits as long as the system does')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT')
            [CompletionResult]::new('--keepalive', '--keepalive', [CompletionResultType]::ParameterName, 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below')
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'With --tls: trust the CA certificates in FILE (PEM) instead of the system''s')
            [CompletionResult]::new('--pin', '--pin', [CompletionResultType]::ParameterName, 'With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it')
            [CompletionResult]::new('--sni', '--sni', [CompletionResultType]::ParameterName, 'With --tls: the server name to ask for and check (default: the target''s host)')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'With --tls: present this client certificate (PEM); needs --key')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The private key (PEM) of --cert')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Serve TLS with this certificate chain (PEM); needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'The private key (PEM) of --tls-cert')
            [CompletionResult]::new('--client-ca', '--client-ca', [CompletionResultType]::ParameterName, 'With TLS: require client certificates signed by a CA in FILE (PEM)')
            [CompletionResult]::new('--handshake-timeout', '--handshake-timeout', [CompletionResultType]::ParameterName, 'With TLS: drop a client that has not finished its handshake after DUR')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'With --share: how long a reply may take (default 10s); a later one closes only the waiting client. With --gateway: how long a device may take to answer (default 1s)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'With --share: how long a reply may take (default 10s); a later one closes only the waiting client. With --gateway: how long a device may take to answer (default 1s)')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'modbus: Modbus/TCP on one side, Modbus RTU on the other (TCP clients and a serial TARGET, RTU over TCP to a TCP TARGET, or an RTU master on a serial LISTEN and a Modbus/TCP TARGET); one request on the line at a time')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'With --gateway: how many times a request is sent again after no reply or a bad CRC (then exception 0x0B)')
            [CompletionResult]::new('--turnaround', '--turnaround', [CompletionResultType]::ParameterName, 'With --gateway: a pause after a broadcast (unit 0) and between requests')
            [CompletionResult]::new('--fault', '--fault', [CompletionResultType]::ParameterName, 'Misbehave on purpose, reproducibly: [to-server:|to-client:]KIND=VALUE with KIND delay=DUR[~JITTER], drop=P%, corrupt=P%, duplicate=P%, reset=P%, reset-after=N, stall-after=N, bandwidth=RATE (9600bit/s), modbus-exception=P%:CODE; repeatable. All but delay and bandwidth act on whole messages and need --frame. Each fault is recorded')
            [CompletionResult]::new('--fault-seed', '--fault-seed', [CompletionResultType]::ParameterName, 'The seed of --fault''s dice: the same seed and the same traffic give the same faults (default: a new seed, printed on stderr)')
            [CompletionResult]::new('--capture', '--capture', [CompletionResultType]::ParameterName, 'Record every event as JSON Lines in FILE (created mode 0600), for replay')
            [CompletionResult]::new('--pcap', '--pcap', [CompletionResultType]::ParameterName, 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Proxy UDP: each client address gets its own upstream socket (dropped after --idle-timeout, default 60s)')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'Proxy UDP: each client address gets its own upstream socket (dropped after --idle-timeout, default 60s)')
            [CompletionResult]::new('--share', '--share', [CompletionResultType]::ParameterName, 'All clients share ONE upstream connection, one message at a time (needs --frame)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no traffic records (connection events, errors and --verify results still print)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no traffic records (connection events, errors and --verify results still print)')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'Exit when the first client disconnects')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Speak TLS: verify the server against --ca, else the system''s CAs')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'With --tls: do not check the server''s certificate (a warning says so)')
            [CompletionResult]::new('--tls-self-signed', '--tls-self-signed', [CompletionResultType]::ParameterName, 'Serve TLS with a certificate made now for localhost, 127.0.0.1 and ::1 (SHA-256 fingerprint on stderr)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'p1ge0n;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'p1ge0n;generate' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'p1ge0n;help' {
            [CompletionResult]::new('listen', 'listen', [CompletionResultType]::ParameterValue, 'TCP/UDP echo server: accepts many clients, prints and echoes each message')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'One-shot client: connect, send, wait for the reply, print it, exit with a meaningful status')
            [CompletionResult]::new('repl', 'repl', [CompletionResultType]::ParameterValue, 'Interactive client session with line editing, history and live incoming data')
            [CompletionResult]::new('replay', 'replay', [CompletionResultType]::ParameterValue, 'Resend the client side of a capture, pcap or script, with its timing, and check the replies')
            [CompletionResult]::new('proxy', 'proxy', [CompletionResultType]::ParameterValue, 'Sit between a client and a server (an HMI and a PLC): forward both ways, show and record every message')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (bash, zsh, fish, elvish, powershell)')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Regenerate completions/ and man/ under DIR (for maintainers)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'p1ge0n;help;listen' {
            break
        }
        'p1ge0n;help;send' {
            break
        }
        'p1ge0n;help;repl' {
            break
        }
        'p1ge0n;help;replay' {
            break
        }
        'p1ge0n;help;proxy' {
            break
        }
        'p1ge0n;help;completions' {
            break
        }
        'p1ge0n;help;generate' {
            break
        }
        'p1ge0n;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
