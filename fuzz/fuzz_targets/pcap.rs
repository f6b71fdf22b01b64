//! pcap / pcapng files for `replay`: a capture from the field may be cut
//! short, corrupt or hostile; it must be read into flows or rejected, never
//! panic (or hang, or allocate without bound: libFuzzer's -rss_limit_mb and
//! -timeout catch those).
//!
//! Properties checked on Ok: every flow has both addresses, TCP messages are
//! non-empty (pure ACKs carry nothing), and `is_pcap` agrees with the reader
//! having accepted the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ge0n::record::Transport;
use p1ge0n::record::Side;
use p1ge0n::pcap::{is_pcap, read_flows};

fuzz_target!(|data: &[u8]| {
    match read_flows(data) {
        Ok(flows) => {
            assert!(is_pcap(data));
            for flow in &flows {
                assert!(flow.client.is_some() && flow.server.is_some());
                if flow.transport == Transport::Tcp {
                    assert!(flow.messages.iter().all(|m| !m.data.is_empty()));
                }
                let _ = (
                    flow.start(),
                    flow.totals(Side::Client),
                    flow.totals(Side::Server),
                );
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
