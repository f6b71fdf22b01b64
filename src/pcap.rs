//! Placeholder until the pcap reader lands.
use crate::capture::Flow;
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapError {
    pub packet: Option<usize>,
    pub reason: String,
}
impl std::fmt::Display for PcapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}
pub fn is_pcap(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xd4, 0xc3, 0xb2, 0xa1])
}
pub fn read_flows(_bytes: &[u8]) -> Result<Vec<Flow>, PcapError> {
    Err(PcapError {
        packet: None,
        reason: "pcap reading is not available yet".into(),
    })
}
