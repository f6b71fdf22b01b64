# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_p1ge0n_global_optspecs
    string join \n h/help V/version
end

function __fish_p1ge0n_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_p1ge0n_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_p1ge0n_using_subcommand
    set -l cmd (__fish_p1ge0n_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c p1ge0n -n "__fish_p1ge0n_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c p1ge0n -n "__fish_p1ge0n_needs_command" -s V -l version -d 'Print version'
complete -c p1ge0n -n "__fish_p1ge0n_needs_command" -f -a "listen" -d 'TCP/UDP echo server: accepts many clients, prints and echoes each message'
complete -c p1ge0n -n "__fish_p1ge0n_needs_command" -f -a "send" -d 'One-shot client: connect, send, wait for the reply, print it, exit with a meaningful status'
complete -c p1ge0n -n "__fish_p1ge0n_needs_command" -f -a "repl" -d 'Interactive client session with line editing, history and live incoming data'
complete -c p1ge0n -n "__fish_p1ge0n_needs_command" -f -a "replay" -d 'Resend the client side of a capture, pcap or script, with its timing, and check the replies'
complete -c p1ge0n -n "__fish_p1ge0n_needs_command" -f -a "proxy" -d 'Sit between a client and a server (an HMI and a PLC): forward both ways, show and record every message'
complete -c p1ge0n -n "__fish_p1ge0n_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c p1ge0n -n "__fish_p1ge0n_needs_command" -f -a "generate" -d 'Regenerate completions/ and man/ under DIR (for maintainers)'
complete -c p1ge0n -n "__fish_p1ge0n_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l join -d 'With -u: join the multicast GROUP (on the interface with address IFADDR; IPv6: @IFNAME or @INDEX); repeatable' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l rules -d 'Answer by the rules in FILE (TOML): the first matching rule replies; see RULES below' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l reply -d 'Answer every message with this payload instead of echoing it' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l exec -d 'Hand each connection to CMD (run by /bin/sh -c): the client\'s bytes on its stdin, its stdout back; see PROGRAMS below' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l exec-each -d 'Run CMD once per message (by --frame; with -u per datagram): the message on stdin, its stdout is the reply' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l exec-max -d 'At most N programs of --exec-each (and rules\' exec) at once; more messages wait' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l exec-timeout -d 'Stop a program not done in DUR (and its process group): per message default 10s; per connection (--exec) none' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l frame -d 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)' -r -f -a "raw\t''
mbap\t''
line\t''
crlf\t''
cr\t''
stx-etx\t''
delim=\t''
fixed=\t''
len=u8\t''
len=u16be\t''
len=u16le\t''
len=u32be\t''
len=u32le\t''
len=u16be\,offset=2\,includes-header\t''
modbus-rtu\t''
gap:5ms\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l max-frame -d 'Largest message a framing may produce; a larger one drops that connection' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -s f -l format -d 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]' -r -f -a "text\t''
hex\t''
hexdump\t''
json\t''
raw\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l decode -d 'Say what each message means: modbus, modbus-rtu, s7, enip, iec104, auto or none (each protocol implies its framing)' -r -f -a "none\t''
modbus\t''
modbus-rtu\t''
s7\t''
enip\t''
iec104\t''
auto\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l count -d 'Exit after N messages (proxy: counting both directions)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l max-conns -d 'Serve at most N clients at once; more are closed at accept' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l idle-timeout -d 'Close a connection after DUR without data (from the client; plain proxy: either way)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l allow -d 'Accept only clients from this network (repeatable); e.g. 10.0.0.0/8, ::1' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l deny -d 'Refuse clients from this network (repeatable); deny wins over allow' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l keepalive -d 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l tls-cert -d 'Serve TLS with this certificate chain (PEM); needs --tls-key' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l tls-key -d 'The private key (PEM) of --tls-cert' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l client-ca -d 'With TLS: require client certificates signed by a CA in FILE (PEM)' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l handshake-timeout -d 'With TLS: drop a client that has not finished its handshake after DUR' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l capture -d 'Record every event as JSON Lines in FILE (created mode 0600), for replay' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l pcap -d 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -s u -l udp -d 'Serve UDP: answer each datagram to its sender'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l no-echo -d 'Only print; do not echo'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -s x -l hex -d 'Payloads (--reply) are hex bytes'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -s q -l quiet -d 'Print no traffic records (connection events, errors and --verify results still print)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l once -d 'Exit when the first client disconnects'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -l tls-self-signed -d 'Serve TLS with a certificate made now for localhost, 127.0.0.1 and ::1 (SHA-256 fingerprint on stderr)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand listen" -s V -l version -d 'Print version'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l request -d 'Send a protocol request built for you, e.g. \'enip list-identity\' (repeatable, in place of PAYLOAD); see REQUESTS below' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l eol -d 'Terminator appended to each payload: none, lf, crlf, cr or a payload' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l frame -d 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)' -r -f -a "raw\t''
mbap\t''
line\t''
crlf\t''
cr\t''
stx-etx\t''
delim=\t''
fixed=\t''
len=u8\t''
len=u16be\t''
len=u16le\t''
len=u32be\t''
len=u32le\t''
len=u16be\,offset=2\,includes-header\t''
modbus-rtu\t''
gap:5ms\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l max-frame -d 'Largest message a framing may produce; a larger one drops that connection' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l replies -d 'With --frame: how many frames make one reply' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l idle -d 'A reply is complete after this much silence following its first byte' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -s w -l timeout -d 'Give up waiting for a reply after DUR (exit 4); 0 waits forever' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l on-connect -d 'Send this payload first on every connection and reconnection (e.g. a login); see below' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l expect -d 'The reply must equal this payload, else exit 5 (repeatable: one per message, or one for all)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l junit -d 'Write a JUnit XML report of the --expect checks to FILE (for CI dashboards)' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l connect-timeout -d 'Give up connecting after DUR (exit 3); 0 waits as long as the system does' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l source -d 'Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l keepalive -d 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l ca -d 'With --tls: trust the CA certificates in FILE (PEM) instead of the system\'s' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l pin -d 'With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l sni -d 'With --tls: the server name to ask for and check (default: the target\'s host)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l cert -d 'With --tls: present this client certificate (PEM); needs --key' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l key -d 'The private key (PEM) of --cert' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l retry -d 'Keep trying to connect for up to DUR (for servers still booting)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l repeat -d 'Repeat the whole exchange N times on fresh connections (0: until interrupted)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l interval -d 'Start a repeat every DUR (from the start of one exchange to the start of the next)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l exec -d 'Connect, then hand the connection to CMD (run by /bin/sh -c): its stdout to the server, the server\'s bytes to its stdin; exit with its status' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l ttl -d 'With -u: the IP time-to-live (multicast: hop limit) of the datagrams, 1-255' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -s f -l format -d 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]' -r -f -a "text\t''
hex\t''
hexdump\t''
json\t''
raw\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l decode -d 'Say what each message means: modbus, modbus-rtu, s7, enip, iec104, auto or none (each protocol implies its framing)' -r -f -a "none\t''
modbus\t''
modbus-rtu\t''
s7\t''
enip\t''
iec104\t''
auto\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l capture -d 'Record every event as JSON Lines in FILE (created mode 0600), for replay' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l pcap -d 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -s x -l hex -d 'Payloads and --expect are hex bytes'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l no-reply -d 'Send without waiting for replies'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l tls -d 'Speak TLS: verify the server against --ca, else the system\'s CAs'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l insecure -d 'With --tls: do not check the server\'s certificate (a warning says so)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l keep-going -d 'With --repeat: go on after a failed cycle; at the end say how many failed and exit with the first failure\'s status'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l persistent -d 'With --repeat: poll over one connection, kept open between cycles (opened again, with --on-connect, only when it drops), instead of a new connection per cycle'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -s u -l udp -d 'Use UDP: each payload is one datagram, each reply one datagram'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -l broadcast -d 'With -u: allow sending to a broadcast address (replies are taken from any address)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -s q -l quiet -d 'Print no traffic records (connection events, errors and --verify results still print)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand send" -s V -l version -d 'Print version'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l eol -d 'Terminator appended to each line: none, lf, crlf, cr or a payload [default: lf; none with -x]' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l frame -d 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)' -r -f -a "raw\t''
mbap\t''
line\t''
crlf\t''
cr\t''
stx-etx\t''
delim=\t''
fixed=\t''
len=u8\t''
len=u16be\t''
len=u16le\t''
len=u32be\t''
len=u32le\t''
len=u16be\,offset=2\,includes-header\t''
modbus-rtu\t''
gap:5ms\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l max-frame -d 'Largest message a framing may produce; a larger one drops that connection' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -s f -l format -d 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]' -r -f -a "text\t''
hex\t''
hexdump\t''
json\t''
raw\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l decode -d 'Say what each message means: modbus, modbus-rtu, s7, enip, iec104, auto or none (each protocol implies its framing)' -r -f -a "none\t''
modbus\t''
modbus-rtu\t''
s7\t''
enip\t''
iec104\t''
auto\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l history -d 'History file (default: $XDG_STATE_HOME/p1ge0n/history, else ~/.local/state/p1ge0n/history)' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l on-connect -d 'Send this payload first on every connection and reconnection (e.g. a login); see below' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l idle -d 'A reply is complete after this much silence following its first byte' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -s w -l timeout -d 'Give up waiting for a reply after DUR (exit 4); 0 waits forever' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l connect-timeout -d 'Give up connecting after DUR (exit 3); 0 waits as long as the system does' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l source -d 'Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l keepalive -d 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l ca -d 'With --tls: trust the CA certificates in FILE (PEM) instead of the system\'s' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l pin -d 'With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l sni -d 'With --tls: the server name to ask for and check (default: the target\'s host)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l cert -d 'With --tls: present this client certificate (PEM); needs --key' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l key -d 'The private key (PEM) of --cert' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l capture -d 'Record every event as JSON Lines in FILE (created mode 0600), for replay' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l pcap -d 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -s x -l hex -d 'Start in hex mode: each line is hex bytes'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -s q -l quiet -d 'Print no traffic records (connection events, errors and --verify results still print)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l reconnect -d 'Reconnect automatically, with backoff, when the connection is lost'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l tls -d 'Speak TLS: verify the server against --ca, else the system\'s CAs'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -l insecure -d 'With --tls: do not check the server\'s certificate (a warning says so)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand repl" -s V -l version -d 'Print version'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l junit -d 'Write a JUnit XML report of the checked messages to FILE (for CI dashboards)' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l flow -d 'Replay only flow N (see --list); repeatable' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l speed -d 'Play the captured timing X times faster' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l interval -d 'A fixed pause between messages instead of the captured timing' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l loop -d 'Replay (or serve) the whole file N times; 0: until interrupted' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l frame -d 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)' -r -f -a "raw\t''
mbap\t''
line\t''
crlf\t''
cr\t''
stx-etx\t''
delim=\t''
fixed=\t''
len=u8\t''
len=u16be\t''
len=u16le\t''
len=u32be\t''
len=u32le\t''
len=u16be\,offset=2\,includes-header\t''
modbus-rtu\t''
gap:5ms\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l max-frame -d 'Largest message a framing may produce; a larger one drops that connection' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -s w -l timeout -d 'Give up waiting for a reply after DUR (exit 4); 0 waits forever' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l connect-timeout -d 'Give up connecting after DUR (exit 3); 0 waits as long as the system does' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l source -d 'Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l keepalive -d 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l ca -d 'With --tls: trust the CA certificates in FILE (PEM) instead of the system\'s' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l pin -d 'With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l sni -d 'With --tls: the server name to ask for and check (default: the target\'s host)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l cert -d 'With --tls: present this client certificate (PEM); needs --key' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l key -d 'The private key (PEM) of --cert' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l tls-cert -d 'Serve TLS with this certificate chain (PEM); needs --tls-key' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l tls-key -d 'The private key (PEM) of --tls-cert' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l client-ca -d 'With TLS: require client certificates signed by a CA in FILE (PEM)' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l handshake-timeout -d 'With TLS: drop a client that has not finished its handshake after DUR' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -s f -l format -d 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]' -r -f -a "text\t''
hex\t''
hexdump\t''
json\t''
raw\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l decode -d 'Say what each message means: modbus, modbus-rtu, s7, enip, iec104, auto or none (each protocol implies its framing)' -r -f -a "none\t''
modbus\t''
modbus-rtu\t''
s7\t''
enip\t''
iec104\t''
auto\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l capture -d 'Record every event as JSON Lines in FILE (created mode 0600), for replay' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l pcap -d 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l serve -d 'Play the server side instead: listen, and answer each client as the captured server did'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l verify -d 'Compare every reply (with --serve: every client message) with the captured one; exit 5 on any difference'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l list -d 'List the flows in the file and exit'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l no-delay -d 'Send each message as soon as the previous reply is in'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -s x -l hex -d 'Script payloads are hex bytes'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l tls -d 'Speak TLS: verify the server against --ca, else the system\'s CAs'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l insecure -d 'With --tls: do not check the server\'s certificate (a warning says so)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -l tls-self-signed -d 'Serve TLS with a certificate made now for localhost, 127.0.0.1 and ::1 (SHA-256 fingerprint on stderr)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -s q -l quiet -d 'Print no traffic records (connection events, errors and --verify results still print)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand replay" -s V -l version -d 'Print version'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l frame -d 'How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)' -r -f -a "raw\t''
mbap\t''
line\t''
crlf\t''
cr\t''
stx-etx\t''
delim=\t''
fixed=\t''
len=u8\t''
len=u16be\t''
len=u16le\t''
len=u32be\t''
len=u32le\t''
len=u16be\,offset=2\,includes-header\t''
modbus-rtu\t''
gap:5ms\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l max-frame -d 'Largest message a framing may produce; a larger one drops that connection' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -s f -l format -d 'Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]' -r -f -a "text\t''
hex\t''
hexdump\t''
json\t''
raw\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l decode -d 'Say what each message means: modbus, modbus-rtu, s7, enip, iec104, auto or none (each protocol implies its framing)' -r -f -a "none\t''
modbus\t''
modbus-rtu\t''
s7\t''
enip\t''
iec104\t''
auto\t''"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l count -d 'Exit after N messages (proxy: counting both directions)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l max-conns -d 'Serve at most N clients at once; more are closed at accept' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l idle-timeout -d 'Close a connection after DUR without data (from the client; plain proxy: either way)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l allow -d 'Accept only clients from this network (repeatable); e.g. 10.0.0.0/8, ::1' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l deny -d 'Refuse clients from this network (repeatable); deny wins over allow' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l connect-timeout -d 'Give up connecting after DUR (exit 3); 0 waits as long as the system does' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l source -d 'Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l keepalive -d 'Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l ca -d 'With --tls: trust the CA certificates in FILE (PEM) instead of the system\'s' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l pin -d 'With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l sni -d 'With --tls: the server name to ask for and check (default: the target\'s host)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l cert -d 'With --tls: present this client certificate (PEM); needs --key' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l key -d 'The private key (PEM) of --cert' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l tls-cert -d 'Serve TLS with this certificate chain (PEM); needs --tls-key' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l tls-key -d 'The private key (PEM) of --tls-cert' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l client-ca -d 'With TLS: require client certificates signed by a CA in FILE (PEM)' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l handshake-timeout -d 'With TLS: drop a client that has not finished its handshake after DUR' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -s w -l timeout -d 'With --share: how long a reply may take (default 10s); a later one closes only the waiting client. With --gateway: how long a device may take to answer (default 1s)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l gateway -d 'modbus: Modbus/TCP on one side, Modbus RTU on the other (TCP clients and a serial TARGET, RTU over TCP to a TCP TARGET, or an RTU master on a serial LISTEN and a Modbus/TCP TARGET); one request on the line at a time' -r -f -a "modbus\t'Modbus/TCP (MBAP) and Modbus RTU'"
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l retries -d 'With --gateway: how many times a request is sent again after no reply or a bad CRC (then exception 0x0B)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l turnaround -d 'With --gateway: a pause after a broadcast (unit 0) and between requests' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l fault -d 'Misbehave on purpose, reproducibly: [to-server:|to-client:]KIND=VALUE with KIND delay=DUR[~JITTER], drop=P%, corrupt=P%, duplicate=P%, reset=P%, reset-after=N, stall-after=N, bandwidth=RATE (9600bit/s), modbus-exception=P%:CODE; repeatable. All but delay and bandwidth act on whole messages and need --frame. Each fault is recorded' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l fault-seed -d 'The seed of --fault\'s dice: the same seed and the same traffic give the same faults (default: a new seed, printed on stderr)' -r
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l capture -d 'Record every event as JSON Lines in FILE (created mode 0600), for replay' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l pcap -d 'Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open' -r -F
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -s u -l udp -d 'Proxy UDP: each client address gets its own upstream socket (dropped after --idle-timeout, default 60s)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l share -d 'All clients share ONE upstream connection, one message at a time (needs --frame)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -s q -l quiet -d 'Print no traffic records (connection events, errors and --verify results still print)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l once -d 'Exit when the first client disconnects'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l tls -d 'Speak TLS: verify the server against --ca, else the system\'s CAs'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l insecure -d 'With --tls: do not check the server\'s certificate (a warning says so)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -l tls-self-signed -d 'Serve TLS with a certificate made now for localhost, 127.0.0.1 and ::1 (SHA-256 fingerprint on stderr)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand proxy" -s V -l version -d 'Print version'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand completions" -s V -l version -d 'Print version'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand generate" -s h -l help -d 'Print help'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand generate" -s V -l version -d 'Print version'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand help; and not __fish_seen_subcommand_from listen send repl replay proxy completions generate help" -f -a "listen" -d 'TCP/UDP echo server: accepts many clients, prints and echoes each message'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand help; and not __fish_seen_subcommand_from listen send repl replay proxy completions generate help" -f -a "send" -d 'One-shot client: connect, send, wait for the reply, print it, exit with a meaningful status'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand help; and not __fish_seen_subcommand_from listen send repl replay proxy completions generate help" -f -a "repl" -d 'Interactive client session with line editing, history and live incoming data'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand help; and not __fish_seen_subcommand_from listen send repl replay proxy completions generate help" -f -a "replay" -d 'Resend the client side of a capture, pcap or script, with its timing, and check the replies'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand help; and not __fish_seen_subcommand_from listen send repl replay proxy completions generate help" -f -a "proxy" -d 'Sit between a client and a server (an HMI and a PLC): forward both ways, show and record every message'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand help; and not __fish_seen_subcommand_from listen send repl replay proxy completions generate help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand help; and not __fish_seen_subcommand_from listen send repl replay proxy completions generate help" -f -a "generate" -d 'Regenerate completions/ and man/ under DIR (for maintainers)'
complete -c p1ge0n -n "__fish_p1ge0n_using_subcommand help; and not __fish_seen_subcommand_from listen send repl replay proxy completions generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'

# Added by `p1ge0n generate` (src/docs.rs): after `serial:`, wherever an
# address goes, the serial lines (/dev/tty*). Whether the token is an
# address: which positional argument it is, given the options that take a
# value.
function __fish_p1ge0n_serial_address
    string match -q -- 'serial:*' (commandline -ct); or return 1
    set -l words (commandline -opc)
    set -l i 2
    while test $i -le (count $words); and string match -q -- '-*' $words[$i]
        set i (math $i + 1)
    end
    test $i -le (count $words); or return 1
    set -l addresses
    set -l valued
    switch $words[$i]
        case listen
            set addresses 1
            set valued --join --rules --reply --exec --exec-each --exec-max --exec-timeout --frame --max-frame -f --format --decode --count --max-conns --idle-timeout --allow --deny --keepalive --tls-cert --tls-key --client-ca --handshake-timeout --capture --pcap
        case send
            set addresses 1
            set valued --request --eol --frame --max-frame --replies --idle -w --timeout --on-connect --expect --junit --connect-timeout --source --keepalive --ca --pin --sni --cert --key --retry --repeat --interval --exec --ttl -f --format --decode --capture --pcap
        case repl
            set addresses 1
            set valued --eol --frame --max-frame -f --format --decode --history --on-connect --idle -w --timeout --connect-timeout --source --keepalive --ca --pin --sni --cert --key --capture --pcap
        case replay
            set addresses 2
            set valued --junit --flow --speed --interval --loop --frame --max-frame -w --timeout --connect-timeout --source --keepalive --ca --pin --sni --cert --key --tls-cert --tls-key --client-ca --handshake-timeout -f --format --decode --capture --pcap
        case proxy
            set addresses 1 2
            set valued --frame --max-frame -f --format --decode --count --max-conns --idle-timeout --allow --deny --connect-timeout --source --keepalive --ca --pin --sni --cert --key --tls-cert --tls-key --client-ca --handshake-timeout -w --timeout --gateway --retries --turnaround --fault --fault-seed --capture --pcap
        case '*'
            return 1
    end
    set -l n 0
    set -l dashdash 0
    set -l value 0
    set i (math $i + 1)
    while test $i -le (count $words)
        set -l w $words[$i]
        set i (math $i + 1)
        if test $value = 1
            set value 0
        else if test $dashdash = 1
            set n (math $n + 1)
        else if test "$w" = --
            set dashdash 1
        else if string match -qr -- '^-.' $w
            # An option; its value is the next word, unless --option=value.
            if contains -- $w $valued
                set value 1
            end
        else
            set n (math $n + 1)
        end
    end
    # An option right before the token takes it as its value.
    test $value = 0; and contains -- (math $n + 1) $addresses
end

complete -c p1ge0n -n __fish_p1ge0n_serial_address -f -a '(for tty in /dev/tty*; echo serial:$tty; end)'
