//! Command-line values: `HOST:PORT` / `unix:PATH` / `serial:PATH,...` targets, listen
//! addresses, `--allow` / `--deny` networks, `--join` groups and durations. Any string must give Ok or Err, never a
//! panic.
//!
//! Properties checked: `Target` and `Cidr` Display round-trip through
//! FromStr; a `Cidr` is already truncated to its prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ge0n::net::{Cidr, Group, ListenAddr, SourceAddr, Target};
use p1ge0n::units::parse_duration;

fn utf8_prefix(data: &[u8]) -> &str {
    match std::str::from_utf8(data) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).unwrap(),
    }
}

fuzz_target!(|data: &[u8]| {
    let input = utf8_prefix(data);

    if let Ok(target) = input.parse::<Target>() {
        match &target {
            Target::Host(host) => assert!(!host.host.is_empty() && host.port != 0, "{input:?}"),
            Target::Unix(path) => assert!(!path.0.is_empty() && path.0.len() <= 107, "{input:?}"),
            Target::Serial(line) => assert!(
                !line.path.is_empty() && !line.path.contains(',') && line.baud > 0,
                "{input:?}"
            ),
        }
        let text = target.to_string();
        assert_eq!(
            text.parse::<Target>().as_ref(),
            Ok(&target),
            "{input:?} -> {text:?}"
        );
    }

    let _ = input.parse::<ListenAddr>();
    let _ = input.parse::<SourceAddr>();

    if let Ok(group) = input.parse::<Group>() {
        assert!(group.addr.is_multicast(), "{input:?}");
        let text = group.to_string();
        assert_eq!(text.parse::<Group>(), Ok(group), "{input:?} -> {text:?}");
    }

    if let Ok(cidr) = input.parse::<Cidr>() {
        assert_eq!(cidr.0, cidr.0.trunc(), "{input:?}");
        let text = cidr.to_string();
        assert_eq!(text.parse::<Cidr>(), Ok(cidr), "{input:?} -> {text:?}");
    }

    let _ = parse_duration(input);
});
