//! EtherNet/IP (TCP 44818) with CIP: what Allen-Bradley/Rockwell PLCs and
//! their clients say (issue 25).
//!
//! Covered: the 24-byte encapsulation header (command, length, session,
//! status) of ListIdentity, ListServices, ListInterfaces, RegisterSession,
//! UnRegisterSession, SendRRData and SendUnitData; the common packet
//! format's items (null, connected and sequenced address, connected and
//! unconnected data, sockaddr info, identity, services); CIP requests
//! (service, padded EPATH: port, logical and ANSI symbolic segments, so
//! class/instance/attribute or a tag name like `Program:Main.Data[3]`) and
//! replies (general and extended status); Logix Read/Write Tag (plain and
//! fragmented) with data type and values; Multiple Service Packet split
//! into its services; Unconnected Send with its embedded request and route;
//! Forward Open/Close (connection ids, serial, RPIs); ListIdentity replies
//! (vendor, device type, product code, revision, serial, name, state); and
//! the `--request` builders `list-identity`, `list-services` and
//! `register-session`.
//!
//! Not covered: attribute values of Get_Attribute* replies (object-specific;
//! shown as raw bytes), structure (UDT) contents and Logix STRINGs (shown
//! as their handle and byte count), implicit (class 0/1, UDP) I/O, CIP
//! Security, and the reply to a 0x4E/0x52 service, which carries no path:
//! it is named Forward_Close / Read Tag Fragmented (the common cases).

use serde_json::{json, Value};

use super::{u8_at, Fields, Malformed};
use crate::record::Side;

/// The encapsulation header's length.
const HEADER: usize = 24;

/// How deep embedded messages (Unconnected Send, Multiple Service Packet)
/// are decoded; deeper ones are shown as bytes.
const MAX_DEPTH: u8 = 4;

/// At most this many values (or services) in a summary, then an ellipsis.
const SHOWN: usize = 10;

/// A little-endian reader over a slice that says what it ran out of.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, at: 0 }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Malformed> {
        let s = self
            .b
            .get(self.at..)
            .and_then(|r| r.get(..n))
            .ok_or_else(|| Malformed(format!("too short for the {what}")))?;
        self.at += n;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, Malformed> {
        let v = u8_at(self.b, self.at, what)?;
        self.at += 1;
        Ok(v)
    }

    fn u16(&mut self, what: &str) -> Result<u16, Malformed> {
        let s = self.take(2, what)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, Malformed> {
        let s = self.take(4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn rest(&mut self) -> &'a [u8] {
        let s = self.b.get(self.at..).unwrap_or(&[]);
        self.at = self.b.len();
        s
    }

    fn left(&self) -> usize {
        self.b.len().saturating_sub(self.at)
    }
}

pub fn command_name(command: u16) -> Option<&'static str> {
    Some(match command {
        0x00 => "NOP",
        0x04 => "ListServices",
        0x63 => "ListIdentity",
        0x64 => "ListInterfaces",
        0x65 => "RegisterSession",
        0x66 => "UnRegisterSession",
        0x6f => "SendRRData",
        0x70 => "SendUnitData",
        0x72 => "IndicateStatus",
        0x73 => "Cancel",
        _ => return None,
    })
}

/// The encapsulation header's status.
fn encapsulation_status_name(status: u32) -> &'static str {
    match status {
        0x00 => "success",
        0x01 => "invalid or unsupported command",
        0x02 => "insufficient memory",
        0x03 => "incorrect data",
        0x64 => "invalid session handle",
        0x65 => "invalid length",
        0x69 => "unsupported protocol version",
        _ => "unknown status",
    }
}

fn item_name(type_id: u16) -> &'static str {
    match type_id {
        0x0000 => "null address",
        0x000c => "identity",
        0x0086 => "CIP security",
        0x00a1 => "connected address",
        0x00b1 => "connected data",
        0x00b2 => "unconnected data",
        0x0100 => "list services",
        0x8000 => "sockaddr info O->T",
        0x8001 => "sockaddr info T->O",
        0x8002 => "sequenced address",
        _ => "unknown item",
    }
}

/// CIP general status (CIP Vol 1, appendix B).
pub fn general_status_name(status: u8) -> &'static str {
    match status {
        0x00 => "success",
        0x01 => "connection failure",
        0x02 => "resource unavailable",
        0x03 => "invalid parameter value",
        0x04 => "path segment error",
        0x05 => "path destination unknown",
        0x06 => "partial transfer",
        0x07 => "connection lost",
        0x08 => "service not supported",
        0x09 => "invalid attribute value",
        0x0a => "attribute list error",
        0x0b => "already in requested mode/state",
        0x0c => "object state conflict",
        0x0d => "object already exists",
        0x0e => "attribute not settable",
        0x0f => "privilege violation",
        0x10 => "device state conflict",
        0x11 => "reply data too large",
        0x12 => "fragmentation of a primitive value",
        0x13 => "not enough data",
        0x14 => "attribute not supported",
        0x15 => "too much data",
        0x16 => "object does not exist",
        0x17 => "service fragmentation sequence not in progress",
        0x18 => "no stored attribute data",
        0x19 => "store operation failure",
        0x1a => "routing failure, request too large",
        0x1b => "routing failure, response too large",
        0x1c => "missing attribute list entry data",
        0x1d => "invalid attribute value list",
        0x1e => "embedded service error",
        0x1f => "vendor specific error",
        0x20 => "invalid parameter",
        0x21 => "write-once value already written",
        0x22 => "invalid reply received",
        0x23 => "buffer overflow",
        0x24 => "invalid message format",
        0x25 => "key failure in path",
        0x26 => "path size invalid",
        0x27 => "unexpected attribute in list",
        0x28 => "invalid member id",
        0x29 => "member not settable",
        0x2a => "group 2 only server general failure",
        0x2b => "unknown Modbus error",
        0x2c => "attribute not gettable",
        _ => "unknown status",
    }
}

fn class_name(class: u32) -> Option<&'static str> {
    Some(match class {
        0x01 => "Identity",
        0x02 => "Message Router",
        0x04 => "Assembly",
        0x05 => "Connection",
        0x06 => "Connection Manager",
        0x37 => "File",
        0x47 => "Device Level Ring",
        0x48 => "QoS",
        0x6b => "Symbol",
        0x6c => "Template",
        0xf4 => "Port",
        0xf5 => "TCP/IP Interface",
        0xf6 => "Ethernet Link",
        _ => return None,
    })
}

fn device_type_name(device_type: u16) -> &'static str {
    match device_type {
        0x00 => "generic device",
        0x02 => "AC drive",
        0x03 => "motor overload",
        0x04 => "limit switch",
        0x05 => "inductive proximity switch",
        0x06 => "photoelectric sensor",
        0x07 => "general purpose discrete I/O",
        0x09 => "resolver",
        0x0c => "communications adapter",
        0x0e => "programmable logic controller",
        0x10 => "position controller",
        0x13 => "DC drive",
        0x15 => "contactor",
        0x16 => "motor starter",
        0x17 => "soft start",
        0x18 => "human-machine interface",
        0x1a => "mass flow controller",
        0x1b => "pneumatic valve",
        0x1c => "vacuum pressure gauge",
        0x22 => "encoder",
        0x23 => "safety discrete I/O",
        0x25 => "CIP motion drive",
        0x2b => "generic device (keyable)",
        0x2c => "managed switch",
        _ => "unknown device type",
    }
}

/// A CIP service's name; `class` is the request path's class, when known
/// (services 0x4B-0x63 are object specific).
pub fn service_name(code: u8, class: Option<u32>) -> std::borrow::Cow<'static, str> {
    let name = match (code, class) {
        (0x01, _) => "Get_Attributes_All",
        (0x02, _) => "Set_Attributes_All",
        (0x03, _) => "Get_Attribute_List",
        (0x04, _) => "Set_Attribute_List",
        (0x05, _) => "Reset",
        (0x06, _) => "Start",
        (0x07, _) => "Stop",
        (0x08, _) => "Create",
        (0x09, _) => "Delete",
        (0x0a, _) => "Multiple_Service_Packet",
        (0x0d, _) => "Apply_Attributes",
        (0x0e, _) => "Get_Attribute_Single",
        (0x10, _) => "Set_Attribute_Single",
        (0x11, _) => "Find_Next_Object_Instance",
        (0x14, _) => "Error_Response",
        (0x15, _) => "Restore",
        (0x16, _) => "Save",
        (0x17, _) => "No_Operation",
        (0x18, _) => "Get_Member",
        (0x19, _) => "Set_Member",
        (0x1a, _) => "Insert_Member",
        (0x1b, _) => "Remove_Member",
        (0x1c, _) => "GroupSync",
        (0x4e, Some(6)) | (0x4e, None) => "Forward_Close",
        (0x52, Some(6)) => "Unconnected_Send",
        (0x54, Some(6)) | (0x54, None) => "Forward_Open",
        (0x56, Some(6)) | (0x56, None) => "Get_Connection_Data",
        (0x57, Some(6)) | (0x57, None) => "Search_Connection_Data",
        (0x5a, Some(6)) | (0x5a, None) => "Get_Connection_Owner",
        (0x5b, Some(6)) | (0x5b, None) => "Large_Forward_Open",
        (0x4c, _) => "Read Tag",
        (0x4d, _) => "Write Tag",
        (0x4e, _) => "Read Modify Write Tag",
        (0x52, _) => "Read Tag Fragmented",
        (0x53, _) => "Write Tag Fragmented",
        (0x55, _) => "Get Instance Attribute List",
        _ => return format!("service 0x{code:02x}").into(),
    };
    name.into()
}

/// A Logix data type: its name and element size.
fn data_type(t: u16) -> Option<(&'static str, usize)> {
    Some(match t {
        0xc1 => ("BOOL", 1),
        0xc2 => ("SINT", 1),
        0xc3 => ("INT", 2),
        0xc4 => ("DINT", 4),
        0xc5 => ("LINT", 8),
        0xc6 => ("USINT", 1),
        0xc7 => ("UINT", 2),
        0xc8 => ("UDINT", 4),
        0xc9 => ("ULINT", 8),
        0xca => ("REAL", 4),
        0xcb => ("LREAL", 8),
        0xd1 => ("BYTE", 1),
        0xd2 => ("WORD", 2),
        0xd3 => ("DWORD", 4),
        0xd4 => ("LWORD", 8),
        _ => return None,
    })
}

/// A float as JSON with its shortest decimal text (0.1, not
/// 0.10000000149011612); NaN and infinities are null.
fn float(v: f64, text: &str) -> Value {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => json!(f),
        _ if v.is_finite() => json!(v),
        _ => Value::Null,
    }
}

/// One element of data type `t` (`bytes` is exactly its size).
fn element(t: u16, b: &[u8]) -> (Value, String) {
    let mut a = [0u8; 8];
    a[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
    let u = u64::from_le_bytes(a);
    match t {
        0xc1 => {
            let v = u8::from(b.first().is_some_and(|&x| x != 0));
            (json!(v), v.to_string())
        }
        0xc2 => (json!(u as u8 as i8), (u as u8 as i8).to_string()),
        0xc3 => (json!(u as u16 as i16), (u as u16 as i16).to_string()),
        0xc4 => (json!(u as u32 as i32), (u as u32 as i32).to_string()),
        0xc5 => (json!(u as i64), (u as i64).to_string()),
        0xca => {
            let f = f32::from_bits(u as u32);
            let text = f.to_string();
            (float(f64::from(f), &text), text)
        }
        0xcb => {
            let f = f64::from_bits(u);
            let text = f.to_string();
            (float(f, &text), text)
        }
        0xd2 => (json!(u), format!("0x{u:04x}")),
        0xd3 => (json!(u), format!("0x{u:08x}")),
        0xd4 => (json!(u), format!("0x{u:016x}")),
        _ => (json!(u), u.to_string()),
    }
}

/// `: v1 v2 ...` with at most 10 values, then an ellipsis; nothing for none.
fn shown(values: &[String], sep: &str) -> String {
    if values.is_empty() {
        return String::new();
    }
    let mut text: Vec<&str> = values.iter().take(SHOWN).map(String::as_str).collect();
    if values.len() > SHOWN {
        text.push("…");
    }
    format!(": {}", text.join(sep))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Typed values after a data type (Read Tag reply, Write Tag request):
/// adds data_type, data_type_name and values (or a structure's handle and
/// its bytes) to `f`; the summary text, e.g. ` INT: 42 43`.
fn typed(r: &mut Reader, f: &mut Fields, count: Option<u16>) -> Result<String, Malformed> {
    let t = r.u16("data type")?;
    f.set("data_type", t);
    if t & 0xff == 0xa0 {
        // An abbreviated structure: its handle, then its bytes.
        let handle = r.u16("structure handle")?;
        let data = r.rest();
        f.set("data_type_name", "STRUCT");
        f.set("structure_handle", handle);
        if let Some(c) = count {
            f.set("count", c);
        }
        f.set_with("data", || Value::from(hex(data)));
        return Ok(format!(
            " STRUCT handle=0x{handle:04x}{} {} bytes",
            count.map_or(String::new(), |c| format!(" count={c}")),
            data.len()
        ));
    }
    if let Some(c) = count {
        f.set("count", c);
    }
    let data = r.rest();
    let Some((name, size)) = data_type(t) else {
        f.set("data_type_name", "unknown");
        f.set_with("data", || Value::from(hex(data)));
        return Ok(format!(
            " type 0x{t:04x}{} {} bytes",
            count.map_or(String::new(), |c| format!(" count={c}")),
            data.len()
        ));
    };
    f.set("data_type_name", name);
    let mut values = Vec::new();
    let mut text = Vec::new();
    for chunk in data.chunks_exact(size) {
        let (v, s) = element(t, chunk);
        values.push(v);
        text.push(s);
    }
    let trailing = data.len() % size;
    f.set("values", values);
    if trailing != 0 {
        f.set("trailing_bytes", trailing);
    }
    Ok(format!(
        " {name}{}{}{}",
        count.map_or(String::new(), |c| format!(" count={c}")),
        shown(&text, " "),
        if trailing != 0 {
            format!(" (+{trailing} bytes)")
        } else {
            String::new()
        }
    ))
}

/// A decoded EPATH (padded): its JSON and its text, e.g. `tag=Data[3]` or
/// `class=0x01 (Identity) instance=1`.
struct Path {
    class: Option<u32>,
    fields: Fields,
    text: Vec<String>,
}

impl Path {
    fn text(&self) -> String {
        self.text.join(" ")
    }
}

/// `like` says whether the JSON is wanted.
fn path(b: &[u8], like: &Fields) -> Result<Path, Malformed> {
    let mut p = Path {
        class: None,
        fields: like.nested(),
        text: Vec::new(),
    };
    let mut tag: Option<String> = None;
    let mut in_index = false;
    let mut route = Vec::new();
    let mut r = Reader::new(b);
    while r.left() > 0 {
        let start = r.at;
        let seg = r.u8("path segment")?;
        match seg {
            0x00..=0x1f => {
                // Port segment: port, link address (1 byte, or sized).
                let mut port = u16::from(seg & 0x0f);
                let size = if seg & 0x10 != 0 {
                    usize::from(r.u8("link address size")?)
                } else {
                    1
                };
                if port == 0x0f {
                    port = r.u16("extended port")?;
                }
                let link = r.take(size, "link address")?;
                if (r.at - start) % 2 == 1 {
                    r.take(1, "port segment pad")?;
                }
                let link = if size == 1 {
                    link[0].to_string()
                } else {
                    String::from_utf8_lossy(link).escape_debug().to_string()
                };
                route.push(format!("{port}/{link}"));
                in_index = false;
            }
            0x20..=0x3f => {
                let kind = (seg >> 2) & 7;
                if kind == 5 {
                    // Electronic key: format 4, vendor, device type,
                    // product code, major (with compatibility bit), minor.
                    let format = r.u8("key format")?;
                    let key = r.take(if format == 4 { 8 } else { 0 }, "electronic key")?;
                    if key.len() == 8 {
                        p.fields.set_with("key", || {
                            json!({"vendor": u16::from_le_bytes([key[0], key[1]]),
                                   "device_type": u16::from_le_bytes([key[2], key[3]]),
                                   "product_code": u16::from_le_bytes([key[4], key[5]]),
                                   "major": key[6] & 0x7f, "minor": key[7]})
                        });
                    }
                    continue;
                }
                let value = match seg & 3 {
                    0 => u32::from(r.u8("logical segment")?),
                    1 => {
                        r.take(1, "logical segment pad")?;
                        u32::from(r.u16("logical segment")?)
                    }
                    2 => {
                        r.take(1, "logical segment pad")?;
                        r.u32("logical segment")?
                    }
                    _ => {
                        return Err(Malformed(format!(
                            "logical segment 0x{seg:02x} has a reserved format"
                        )))
                    }
                };
                match kind {
                    0 => {
                        p.class.get_or_insert(value);
                        p.fields.set("class", value);
                        let name = class_name(value).map_or(String::new(), |n| format!(" ({n})"));
                        p.text.push(format!("class=0x{value:02x}{name}"));
                    }
                    1 => {
                        p.fields.set("instance", value);
                        p.text.push(format!("instance={value}"));
                    }
                    2 => match &mut tag {
                        // After a symbol, a member is an array index.
                        Some(t) => {
                            if in_index {
                                t.pop();
                                t.push_str(&format!(",{value}]"));
                            } else {
                                t.push_str(&format!("[{value}]"));
                            }
                            in_index = true;
                        }
                        None => {
                            p.fields.set("member", value);
                            p.text.push(format!("member={value}"));
                        }
                    },
                    3 => {
                        p.fields.set("connection_point", value);
                        p.text.push(format!("connection_point={value}"));
                    }
                    4 => {
                        p.fields.set("attribute", value);
                        p.text.push(format!("attribute={value}"));
                    }
                    _ => {
                        p.fields.set("service_id", value);
                    }
                }
            }
            0x91 => {
                let len = usize::from(r.u8("symbol length")?);
                let name = r.take(len, "symbol")?;
                if len % 2 == 1 {
                    r.take(1, "symbol pad")?;
                }
                let name = String::from_utf8_lossy(name);
                let t = tag.get_or_insert_with(String::new);
                if !t.is_empty() {
                    t.push('.');
                }
                t.extend(name.chars().flat_map(char::escape_debug));
                in_index = false;
            }
            0x80 => {
                // Simple data segment: size in words, then the data.
                let words = usize::from(r.u8("data segment size")?);
                let data = r.take(words * 2, "data segment")?;
                p.fields.set_with("data", || Value::from(hex(data)));
            }
            _ => {
                r.rest();
                p.fields
                    .set_with("unparsed", || Value::from(hex(&b[start..])));
                p.text.push(format!("segment 0x{seg:02x}…"));
            }
        }
    }
    if let Some(t) = tag {
        p.text.insert(0, format!("tag={t}"));
        p.fields.set("tag", t);
    }
    if !route.is_empty() {
        let route = route.join(",");
        p.text.insert(0, format!("port={route}"));
        p.fields.set("port", route);
    }
    Ok(p)
}

/// A decoded CIP message: its service name, whether a reply, the text
/// after the name and kind, and its JSON.
struct Cip {
    name: std::borrow::Cow<'static, str>,
    reply: bool,
    detail: String,
    fields: Fields,
}

impl Cip {
    fn summary(&self) -> String {
        let mut text = String::new();
        self.summary_into(&mut text);
        text
    }

    /// [`Cip::summary`] appended to `text`.
    fn summary_into(&self, text: &mut String) {
        text.push_str(&self.name);
        text.push_str(if self.reply { " reply" } else { " request" });
        text.push_str(&self.detail);
    }
}

/// One CIP message (request or reply, by the service's reply bit).
fn cip(data: &[u8], depth: u8, like: &Fields) -> Result<Cip, Malformed> {
    let mut r = Reader::new(data);
    let service = r.u8("CIP service")?;
    let code = service & 0x7f;
    let reply = service & 0x80 != 0;
    let mut f = like.nested();
    f.set("service", code);
    f.set("reply", reply);
    if reply {
        r.u8("reserved byte")?;
        let status = r.u8("general status")?;
        let words = usize::from(r.u8("extended status size")?);
        let mut extended = Vec::new();
        for _ in 0..words {
            extended.push(r.u16("extended status")?);
        }
        let name = service_name(code, None);
        f.set("service_name", &*name);
        f.set("general_status", status);
        f.set("general_status_name", general_status_name(status));
        f.set("extended_status", &extended[..]);
        let mut detail = format!(" status=0x{status:02x} ({})", general_status_name(status));
        for e in &extended {
            detail.push_str(&format!(" ext=0x{e:04x}"));
        }
        let ok = status == 0 || status == 6;
        detail.push_str(&match code {
            0x4c | 0x52 if ok && r.left() > 0 => typed(&mut r, &mut f, None)?,
            0x0a if status == 0 || status == 0x1e => multiple(&mut r, &mut f, depth, true)?,
            0x54 | 0x5b if ok => forward_open_reply(&mut r, &mut f)?,
            0x4e if ok => {
                let serial = r.u16("connection serial")?;
                f.set("connection_serial", serial);
                r.rest();
                format!(" serial=0x{serial:04x}")
            }
            _ => raw(&mut r, &mut f),
        });
        return Ok(Cip {
            name,
            reply,
            detail,
            fields: f,
        });
    }
    let words = usize::from(r.u8("request path size")?);
    let p = path(r.take(words * 2, "request path")?, &f)?;
    let class = p.class;
    let name = service_name(code, class);
    f.set("service_name", &*name);
    f.set_with("path", || p.fields.clone().into_value());
    let connection_manager = class == Some(6);
    // Unconnected Send and Forward Open/Close name their object already.
    let says_path = !connection_manager || !matches!(code, 0x52 | 0x54 | 0x5b | 0x4e);
    let mut detail = String::with_capacity(64);
    if says_path {
        for part in &p.text {
            detail.push(' ');
            detail.push_str(part);
        }
    }
    detail.push_str(&match (code, connection_manager) {
        (0x52, true) => unconnected_send(&mut r, &mut f, depth)?,
        (0x54, true) => forward_open(&mut r, &mut f, false)?,
        (0x5b, true) => forward_open(&mut r, &mut f, true)?,
        (0x4e, true) => forward_close(&mut r, &mut f)?,
        (0x4c, _) => {
            let count = r.u16("element count")?;
            f.set("count", count);
            format!(" count={count}")
        }
        (0x52, _) => {
            let count = r.u16("element count")?;
            let offset = r.u32("byte offset")?;
            f.set("count", count);
            f.set("offset", offset);
            format!(" count={count} offset={offset}")
        }
        (0x4d, _) => {
            let mut head = Reader::new(r.rest());
            let t = head.u16("data type")?;
            let handle = if t & 0xff == 0xa0 {
                Some(head.u16("structure handle")?)
            } else {
                None
            };
            let count = head.u16("element count")?;
            // Reassemble as type (+handle), then values, for `typed`.
            let mut again = t.to_le_bytes().to_vec();
            if let Some(h) = handle {
                again.extend(h.to_le_bytes());
            }
            again.extend(head.rest());
            typed(&mut Reader::new(&again), &mut f, Some(count))?
        }
        (0x53, _) => {
            let mut head = Reader::new(r.rest());
            let t = head.u16("data type")?;
            let handle = if t & 0xff == 0xa0 {
                Some(head.u16("structure handle")?)
            } else {
                None
            };
            let count = head.u16("element count")?;
            let offset = head.u32("byte offset")?;
            f.set("offset", offset);
            let mut again = t.to_le_bytes().to_vec();
            if let Some(h) = handle {
                again.extend(h.to_le_bytes());
            }
            again.extend(head.rest());
            let text = typed(&mut Reader::new(&again), &mut f, Some(count))?;
            format!(" offset={offset}{text}")
        }
        (0x0a, _) => multiple(&mut r, &mut f, depth, false)?,
        _ => raw(&mut r, &mut f),
    });
    Ok(Cip {
        name,
        reply,
        detail,
        fields: f,
    })
}

/// What is left, as `data` (hex) and ` N bytes` (nothing for none).
fn raw(r: &mut Reader, f: &mut Fields) -> String {
    let rest = r.rest();
    if rest.is_empty() {
        return String::new();
    }
    f.set_with("data", || Value::from(hex(rest)));
    if rest.len() == 1 {
        " 1 byte".into()
    } else {
        format!(" {} bytes", rest.len())
    }
}

/// Multiple Service Packet: count, offsets (from the count), services.
fn multiple(r: &mut Reader, f: &mut Fields, depth: u8, reply: bool) -> Result<String, Malformed> {
    let body = r.rest();
    if reply && body.is_empty() {
        return Ok(String::new());
    }
    let mut m = Reader::new(body);
    let count = usize::from(m.u16("service count")?);
    let mut offsets = Vec::new();
    for _ in 0..count {
        offsets.push(usize::from(m.u16("service offset")?));
    }
    let mut services = Vec::new();
    let mut text = Vec::new();
    for (i, &start) in offsets.iter().enumerate() {
        let end = offsets.get(i + 1).copied().unwrap_or(body.len());
        let bytes = body.get(start..end).ok_or_else(|| {
            Malformed(format!(
                "service {} at offset {start} runs past the packet",
                i + 1
            ))
        })?;
        if depth >= MAX_DEPTH {
            if f.wanted() {
                services.push(json!({"data": hex(bytes)}));
            }
            text.push(format!("{} bytes", bytes.len()));
            continue;
        }
        let c = cip(bytes, depth + 1, f)?;
        text.push(format!("{}{}", c.name, c.detail));
        services.push(c.fields.into_value());
    }
    f.set("services", services);
    let noun = if count == 1 { "service" } else { "services" };
    Ok(format!(" {count} {noun}{}", shown(&text, "; ")))
}

/// Unconnected Send: the embedded request and its route.
fn unconnected_send(r: &mut Reader, f: &mut Fields, depth: u8) -> Result<String, Malformed> {
    let tick = r.u8("priority/time tick")?;
    let ticks = r.u8("timeout ticks")?;
    let size = usize::from(r.u16("embedded message size")?);
    let message = r.take(size, "embedded message")?;
    if size % 2 == 1 && r.left() % 2 == 1 {
        r.take(1, "embedded message pad")?;
    }
    let words = usize::from(r.u8("route path size")?);
    r.u8("reserved byte")?;
    let route = path(r.take(words * 2, "route path")?, f)?;
    r.rest();
    f.set("priority_tick", tick);
    f.set("timeout_ticks", ticks);
    f.set("route", route.fields);
    let route_text = if route.text.is_empty() {
        String::new()
    } else {
        format!(" route {}", route.text.join(" "))
    };
    if depth >= MAX_DEPTH {
        f.set_with("embedded", || json!({"data": hex(message)}));
        return Ok(format!("{route_text}: {} bytes", message.len()));
    }
    let c = cip(message, depth + 1, f)?;
    let text = c.summary();
    f.set("embedded", c.fields);
    Ok(format!("{route_text}: {text}"))
}

/// Forward Open (or Large Forward Open, whose parameters are 32 bits).
fn forward_open(r: &mut Reader, f: &mut Fields, large: bool) -> Result<String, Malformed> {
    r.u8("priority/time tick")?;
    r.u8("timeout ticks")?;
    let o_t = r.u32("O->T connection id")?;
    let t_o = r.u32("T->O connection id")?;
    let serial = r.u16("connection serial")?;
    let vendor = r.u16("originator vendor id")?;
    let originator = r.u32("originator serial")?;
    r.u8("timeout multiplier")?;
    r.take(3, "reserved bytes")?;
    let o_t_rpi = r.u32("O->T RPI")?;
    let o_t_params = if large {
        r.u32("O->T parameters")?
    } else {
        u32::from(r.u16("O->T parameters")?)
    };
    let t_o_rpi = r.u32("T->O RPI")?;
    let t_o_params = if large {
        r.u32("T->O parameters")?
    } else {
        u32::from(r.u16("T->O parameters")?)
    };
    let trigger = r.u8("transport type/trigger")?;
    let words = usize::from(r.u8("connection path size")?);
    let p = path(r.take(words * 2, "connection path")?, f)?;
    r.rest();
    f.set("o_t_connection_id", o_t);
    f.set("t_o_connection_id", t_o);
    f.set("connection_serial", serial);
    f.set("vendor", vendor);
    f.set("originator_serial", originator);
    f.set("o_t_rpi", o_t_rpi);
    f.set("o_t_parameters", o_t_params);
    f.set("t_o_rpi", t_o_rpi);
    f.set("t_o_parameters", t_o_params);
    f.set("transport_trigger", trigger);
    let text = p.text();
    f.set("connection_path", p.fields);
    Ok(format!(
        " serial=0x{serial:04x} vendor={vendor} originator=0x{originator:08x} rpi={o_t_rpi}us/{t_o_rpi}us path {text}"
    ))
}

fn forward_open_reply(r: &mut Reader, f: &mut Fields) -> Result<String, Malformed> {
    let o_t = r.u32("O->T connection id")?;
    let t_o = r.u32("T->O connection id")?;
    let serial = r.u16("connection serial")?;
    let vendor = r.u16("originator vendor id")?;
    let originator = r.u32("originator serial")?;
    let o_t_api = r.u32("O->T API")?;
    let t_o_api = r.u32("T->O API")?;
    let words = usize::from(r.u8("application reply size")?);
    r.u8("reserved byte")?;
    let app = r.take(words * 2, "application reply")?;
    r.rest();
    f.set("o_t_connection_id", o_t);
    f.set("t_o_connection_id", t_o);
    f.set("connection_serial", serial);
    f.set("vendor", vendor);
    f.set("originator_serial", originator);
    f.set("o_t_api", o_t_api);
    f.set("t_o_api", t_o_api);
    if !app.is_empty() {
        f.set_with("application_reply", || Value::from(hex(app)));
    }
    Ok(format!(
        " o_t=0x{o_t:08x} t_o=0x{t_o:08x} serial=0x{serial:04x} api={o_t_api}us/{t_o_api}us"
    ))
}

fn forward_close(r: &mut Reader, f: &mut Fields) -> Result<String, Malformed> {
    r.u8("priority/time tick")?;
    r.u8("timeout ticks")?;
    let serial = r.u16("connection serial")?;
    let vendor = r.u16("originator vendor id")?;
    let originator = r.u32("originator serial")?;
    let words = usize::from(r.u8("connection path size")?);
    r.u8("reserved byte")?;
    let p = path(r.take(words * 2, "connection path")?, f)?;
    r.rest();
    f.set("connection_serial", serial);
    f.set("vendor", vendor);
    f.set("originator_serial", originator);
    let text = p.text();
    f.set("connection_path", p.fields);
    Ok(format!(
        " serial=0x{serial:04x} vendor={vendor} originator=0x{originator:08x} path {text}"
    ))
}

/// A sockaddr (big-endian, as in BSD): `a.b.c.d:port`.
fn sockaddr(b: &[u8]) -> (Value, String) {
    let family = u16::from_be_bytes([b[0], b[1]]);
    let port = u16::from_be_bytes([b[2], b[3]]);
    let address = format!("{}.{}.{}.{}:{port}", b[4], b[5], b[6], b[7]);
    (json!({"family": family, "address": address}), address)
}

/// A ListIdentity reply's identity item.
fn identity(data: &[u8]) -> Result<(Value, String), Malformed> {
    let mut r = Reader::new(data);
    let version = r.u16("identity protocol version")?;
    let (socket, _) = sockaddr(r.take(16, "identity socket address")?);
    let vendor = r.u16("vendor id")?;
    let device_type = r.u16("device type")?;
    let product_code = r.u16("product code")?;
    let major = r.u8("major revision")?;
    let minor = r.u8("minor revision")?;
    let status = r.u16("identity status")?;
    let serial = r.u32("serial number")?;
    let len = usize::from(r.u8("product name length")?);
    let name = String::from_utf8_lossy(r.take(len, "product name")?).to_string();
    let state = if r.left() > 0 {
        Some(r.u8("state")?)
    } else {
        None
    };
    let value = json!({
        "protocol_version": version, "socket": socket, "vendor": vendor,
        "device_type": device_type, "device_type_name": device_type_name(device_type),
        "product_code": product_code, "revision": format!("{major}.{minor}"),
        "status": status, "serial": format!("0x{serial:08x}"), "product_name": name,
        "state": state,
    });
    let text = format!(
        " vendor={vendor} device_type={device_type} product_code={product_code} rev={major}.{minor} serial=0x{serial:08x} name={name:?}"
    );
    Ok((value, text))
}

/// The common packet format: item count, then items. Adds `items` (and
/// `cip`, `identity` or `services` from them) to `f`; the summary text.
fn cpf(r: &mut Reader, f: &mut Fields) -> Result<String, Malformed> {
    let count = r.u16("item count")?;
    let (mut seen_cip, mut seen_identity) = (false, false);
    let mut items = Vec::new();
    let mut text = String::new();
    for i in 0..count {
        let type_id = r.u16("item type id")?;
        let length = usize::from(r.u16("item length")?);
        let data = r.take(length, "item data").map_err(|_| {
            Malformed(format!(
                "CPF item {} ({}) length {length} runs past the frame",
                i + 1,
                item_name(type_id)
            ))
        })?;
        let mut item = f.nested();
        item.set("type_id", type_id);
        item.set("type_name", item_name(type_id));
        item.set("length", length);
        let mut d = Reader::new(data);
        match type_id {
            0x00a1 => {
                let id = d.u32("connection id")?;
                item.set("connection_id", id);
                text.push_str(&format!(" conn=0x{id:08x}"));
            }
            0x8002 => {
                let id = d.u32("connection id")?;
                let seq = d.u32("sequence number")?;
                item.set("connection_id", id);
                item.set("sequence", seq);
                text.push_str(&format!(" conn=0x{id:08x} seq={seq}"));
            }
            0x00b1 | 0x00b2 => {
                if type_id == 0x00b1 {
                    let seq = d.u16("sequence count")?;
                    item.set("sequence", seq);
                    text.push_str(&format!(" seq={seq}"));
                }
                let message = d.rest();
                if !message.is_empty() && !seen_cip {
                    seen_cip = true;
                    let c = cip(message, 0, f)?;
                    text.push_str(" cip ");
                    c.summary_into(&mut text);
                    f.set("cip", c.fields);
                }
            }
            0x8000 | 0x8001 => {
                let (v, s) = sockaddr(d.take(16, "sockaddr info")?);
                item.set("sockaddr", v);
                text.push_str(&format!(
                    " {}={s}",
                    if type_id == 0x8000 { "o_t" } else { "t_o" }
                ));
            }
            0x000c => {
                let (v, s) = identity(data)?;
                if !seen_identity {
                    seen_identity = true;
                    f.set("identity", v);
                    text.push_str(&s);
                }
            }
            0x0100 => {
                let version = d.u16("service version")?;
                let flags = d.u16("capability flags")?;
                // Up to 16 bytes, NUL padded (cpppo sends 15).
                let raw = d.rest();
                let name: String = String::from_utf8_lossy(raw)
                    .trim_end_matches('\0')
                    .escape_debug()
                    .to_string();
                item.set("version", version);
                item.set("flags", flags);
                item.set("name", name.as_str());
                text.push_str(&format!(" {name} version={version} flags=0x{flags:04x}"));
            }
            _ => {
                if !data.is_empty() {
                    item.set_with("data", || Value::from(hex(data)));
                }
            }
        }
        if item.wanted() {
            items.push(item.into_value());
        }
    }
    f.set("items", items);
    if r.left() > 0 {
        return Err(Malformed(format!(
            "{} bytes after the last CPF item",
            r.left()
        )));
    }
    Ok(text)
}

/// `--decode auto`: a known command (NOP aside), a length that counts
/// exactly the bytes after the header, options 0, and not also a
/// well-formed MBAP header (that stays Modbus/TCP).
pub fn looks_like(message: &[u8]) -> bool {
    let Some(header) = message.get(..HEADER) else {
        return false;
    };
    let command = u16::from_le_bytes([header[0], header[1]]);
    let length = usize::from(u16::from_le_bytes([header[2], header[3]]));
    command != 0
        && command_name(command).is_some()
        && length == message.len() - HEADER
        && header[20..24] == [0; 4]
        && !super::mbap_shaped(message)
}

/// Decode one EtherNet/IP encapsulation message sent by `from`.
pub fn decode(frame: &[u8], from: Side, f: &mut Fields) -> Result<String, Malformed> {
    if frame.len() < HEADER {
        return Err(Malformed(format!(
            "{} bytes, shorter than the 24-byte encapsulation header",
            frame.len()
        )));
    }
    let mut r = Reader::new(frame);
    let command = r.u16("command")?;
    let length = r.u16("length")?;
    let session = r.u32("session handle")?;
    let status = r.u32("status")?;
    let context = r.take(8, "sender context")?;
    let options = r.u32("options")?;
    if usize::from(length) != frame.len() - HEADER {
        return Err(Malformed(format!(
            "encapsulation length {length}, but {} bytes follow the header",
            frame.len() - HEADER
        )));
    }
    let kind = match from {
        Side::Client => "request",
        Side::Server => "reply",
    };
    let name: std::borrow::Cow<'static, str> = match command_name(command) {
        Some(n) => n.into(),
        None => format!("command 0x{command:04x}").into(),
    };
    f.set("command", command);
    f.set("command_name", &*name);
    f.set("length", length);
    f.set("session", session);
    f.set("status", status);
    f.set("status_name", encapsulation_status_name(status));
    f.set_with("sender_context", || Value::from(hex(context)));
    f.set("options", options);
    f.set("kind", kind);
    let mut summary = String::with_capacity(128);
    summary.push_str("enip ");
    summary.push_str(&name);
    let session_text = format_args!(" session=0x{session:08x}").to_string();
    let status_text = if status != 0 {
        format!(
            " status=0x{status:x} ({})",
            encapsulation_status_name(status)
        )
    } else {
        String::new()
    };
    match command {
        0x6f | 0x70 => {
            summary.push_str(&session_text);
            summary.push_str(&status_text);
            if r.left() > 0 {
                let handle = r.u32("interface handle")?;
                let timeout = r.u16("timeout")?;
                f.set("interface_handle", handle);
                f.set("timeout", timeout);
                summary.push_str(&cpf(&mut r, f)?);
            }
        }
        0x63 | 0x64 | 0x04 => {
            summary.push(' ');
            summary.push_str(kind);
            summary.push_str(&status_text);
            if r.left() > 0 {
                summary.push_str(&cpf(&mut r, f)?);
            }
        }
        0x65 | 0x66 => {
            summary.push(' ');
            summary.push_str(kind);
            summary.push_str(&session_text);
            summary.push_str(&status_text);
            if r.left() > 0 {
                let version = r.u16("protocol version")?;
                let flags = r.u16("options flags")?;
                f.set("protocol_version", version);
                f.set("options_flags", flags);
                summary.push_str(&format!(" version={version} options={flags}"));
                summary.push_str(&raw(&mut r, f));
            }
        }
        _ => {
            summary.push(' ');
            summary.push_str(kind);
            summary.push_str(&session_text);
            summary.push_str(&status_text);
            summary.push_str(&raw(&mut r, f));
        }
    }
    Ok(summary)
}

/// The requests `--request 'enip ...'` builds (the words after `enip`).
pub const REQUESTS: &[&str] = &["list-identity", "register-session", "list-services"];

/// An encapsulation header for `command` with `body`, session 0.
fn message(command: u16, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER + body.len());
    m.extend(command.to_le_bytes());
    m.extend((body.len() as u16).to_le_bytes());
    m.extend([0; 20]);
    m.extend(body);
    m
}

/// Build the request `words` name (the words after `enip`).
pub fn request(words: &[&str], _at: &super::RequestContext) -> Result<Vec<u8>, String> {
    let expected = REQUESTS.join(", ");
    let Some((&first, rest)) = words.split_first() else {
        return Err(format!("an enip request is needed (expected {expected})"));
    };
    let bytes = match first {
        "list-identity" => message(0x63, &[]),
        "list-services" => message(0x04, &[]),
        // Protocol version 1, no options.
        "register-session" => message(0x65, &[1, 0, 0, 0]),
        _ => {
            return Err(format!(
                "unknown enip request '{first}' (expected {expected})"
            ))
        }
    };
    if let Some(extra) = rest.first() {
        return Err(format!("'{extra}': enip {first} takes no arguments"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoder with its JSON fields (and the same summary without).
    fn decode(frame: &[u8], from: Side) -> Result<crate::decode::Decoded, Malformed> {
        crate::decode::decode_checked(super::decode, frame, from)
    }

    fn hex(s: &str) -> Vec<u8> {
        crate::payload::parse_hex(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// An encapsulation message: header (session, status 0) and body.
    fn encap(command: u16, session: u32, body: &[u8]) -> Vec<u8> {
        let mut m = command.to_le_bytes().to_vec();
        m.extend((body.len() as u16).to_le_bytes());
        m.extend(session.to_le_bytes());
        m.extend([0; 16]);
        m.extend(body);
        m
    }

    /// SendRRData with an unconnected data item holding `cip`.
    fn rr(session: u32, cip: &[u8]) -> Vec<u8> {
        let mut body = vec![0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0xb2, 0];
        body.extend((cip.len() as u16).to_le_bytes());
        body.extend(cip);
        encap(0x6f, session, &body)
    }

    fn summary(frame: &[u8], from: Side) -> String {
        decode(frame, from).unwrap().summary
    }

    #[test]
    fn list_identity_request_and_reply() {
        let request = request(&["list-identity"], &Default::default()).unwrap();
        assert_eq!(
            request,
            hex("63 00 00 00 00000000 00000000 0000000000000000 00000000")
        );
        assert_eq!(summary(&request, Side::Client), "enip ListIdentity request");
        // A 1756-L61 answering (Wireshark's enip sample, values by hand).
        let mut item =
            hex("0100 0002af12 c0a8010a 0000000000000000 0100 0e00 3600 140b 6030 4e61bc00");
        item.push(20);
        item.extend(b"1756-L61/B LOGIX5561");
        item.push(3);
        let mut body = vec![1, 0, 0x0c, 0];
        body.extend((item.len() as u16).to_le_bytes());
        body.extend(&item);
        let reply = encap(0x63, 0, &body);
        let d = decode(&reply, Side::Server).unwrap();
        assert_eq!(
            d.summary,
            "enip ListIdentity reply vendor=1 device_type=14 product_code=54 rev=20.11 serial=0x00bc614e name=\"1756-L61/B LOGIX5561\""
        );
        let id = &d.fields["identity"];
        assert_eq!(id["socket"]["address"], "192.168.1.10:44818");
        assert_eq!(id["device_type_name"], "programmable logic controller");
        assert_eq!(id["status"], 0x3060);
        assert_eq!(id["state"], 3);
        assert_eq!(d.fields["command_name"], "ListIdentity");
        assert_eq!(d.fields["items"][0]["type_id"], 12);
    }

    #[test]
    fn sessions() {
        let reg = request(&["register-session"], &Default::default()).unwrap();
        assert_eq!(
            summary(&reg, Side::Client),
            "enip RegisterSession request session=0x00000000 version=1 options=0"
        );
        let mut answer = reg.clone();
        answer[4..8].copy_from_slice(&0x12345678u32.to_le_bytes());
        let d = decode(&answer, Side::Server).unwrap();
        assert_eq!(
            d.summary,
            "enip RegisterSession reply session=0x12345678 version=1 options=0"
        );
        assert_eq!(d.fields["session"], 0x12345678);
        assert_eq!(d.fields["protocol_version"], 1);
        // Refused: status 0x69, no body.
        let mut refused = encap(0x65, 0, &[]);
        refused[8] = 0x69;
        assert_eq!(
            summary(&refused, Side::Server),
            "enip RegisterSession reply session=0x00000000 status=0x69 (unsupported protocol version)"
        );
        assert_eq!(
            summary(&encap(0x66, 7, &[]), Side::Client),
            "enip UnRegisterSession request session=0x00000007"
        );
        let services = request(&["list-services"], &Default::default()).unwrap();
        assert_eq!(
            summary(&services, Side::Client),
            "enip ListServices request"
        );
        let mut body = hex("0100 0001 1400 0100 2001");
        body.extend(b"Communications\0\0");
        assert_eq!(
            summary(&encap(0x04, 0, &body), Side::Server),
            "enip ListServices reply Communications version=1 flags=0x0120"
        );
    }

    #[test]
    fn read_tag_through_unconnected_send() {
        // cpppo's client: Read Tag SCADA[1] count 1, in an Unconnected
        // Send routed to backplane slot 0.
        let read = hex("4c 05 91 05 53434144 41 00 28 01 0100");
        let mut cip = hex("52 02 20 06 24 01 05 9d");
        cip.extend((read.len() as u16).to_le_bytes());
        cip.extend(&read);
        cip.extend(hex("01 00 01 00"));
        let frame = rr(0x12345678, &cip);
        let d = decode(&frame, Side::Client).unwrap();
        assert_eq!(
            d.summary,
            "enip SendRRData session=0x12345678 cip Unconnected_Send request route port=1/0: Read Tag request tag=SCADA[1] count=1"
        );
        let c = &d.fields["cip"];
        assert_eq!(c["service_name"], "Unconnected_Send");
        assert_eq!(c["path"], json!({"class": 6, "instance": 1}));
        assert_eq!(c["route"], json!({"port": "1/0"}));
        assert_eq!(c["embedded"]["path"]["tag"], "SCADA[1]");
        assert_eq!(c["embedded"]["count"], 1);
        // The plain request, and the reply with two INTs.
        let plain = rr(0x12345678, &hex("4c 04 91 05 53434144 41 00 0100"));
        assert_eq!(
            summary(&plain, Side::Client),
            "enip SendRRData session=0x12345678 cip Read Tag request tag=SCADA count=1"
        );
        let reply = rr(0x12345678, &hex("cc 00 00 00 c300 2a00 2b00"));
        let d = decode(&reply, Side::Server).unwrap();
        assert_eq!(
            d.summary,
            "enip SendRRData session=0x12345678 cip Read Tag reply status=0x00 (success) INT: 42 43"
        );
        assert_eq!(
            d.fields["cip"],
            json!({"service": 0x4c, "reply": true, "service_name": "Read Tag",
                   "general_status": 0, "general_status_name": "success",
                   "extended_status": [], "data_type": 0xc3,
                   "data_type_name": "INT", "values": [42, 43]})
        );
        // An error with extended status.
        let err = rr(1, &hex("cc 00 05 01 0500"));
        assert_eq!(
            summary(&err, Side::Server),
            "enip SendRRData session=0x00000001 cip Read Tag reply status=0x05 (path destination unknown) ext=0x0005"
        );
    }

    #[test]
    fn write_tag_and_types() {
        let write = rr(2, &hex("4d 03 91 04 54616731 ca00 0200 0000c841 cdcccc3d"));
        let d = decode(&write, Side::Client).unwrap();
        assert_eq!(
            d.summary,
            "enip SendRRData session=0x00000002 cip Write Tag request tag=Tag1 REAL count=2: 25 0.1"
        );
        assert_eq!(d.fields["cip"]["values"], json!([25.0, 0.1]));
        let program = rr(
            2,
            &hex("4c 0b 91 0c 50726f6772616d3a4d61696e 91 03 41626300 28 03 0100"),
        );
        assert_eq!(
            summary(&program, Side::Client),
            "enip SendRRData session=0x00000002 cip Read Tag request tag=Program:Main.Abc[3] count=1"
        );
        let dint = rr(2, &hex("cc 00 00 00 c400 ffffffff 01000000"));
        assert!(summary(&dint, Side::Server).ends_with("DINT: -1 1"));
        let dword = rr(2, &hex("cc 00 00 00 d300 efbeadde"));
        assert!(summary(&dword, Side::Server).ends_with("DWORD: 0xdeadbeef"));
        let strukt = rr(2, &hex("cc 00 00 00 a002 ce0f 0300000041424300"));
        assert!(summary(&strukt, Side::Server).ends_with("STRUCT handle=0x0fce 8 bytes"));
        let many: Vec<u8> = [0x4c | 0x80, 0, 0, 0, 0xc2, 0]
            .into_iter()
            .chain(0..12)
            .collect();
        assert!(summary(&rr(3, &many), Side::Server).ends_with("SINT: 0 1 2 3 4 5 6 7 8 9 …"));
        let frag = rr(3, &hex("52 02 91 01 41 00 0a00 00000000"));
        assert!(summary(&frag, Side::Client)
            .ends_with("Read Tag Fragmented request tag=A count=10 offset=0"));
        let done = rr(3, &hex("cd 00 00 00"));
        assert!(summary(&done, Side::Server).ends_with("Write Tag reply status=0x00 (success)"));
    }

    #[test]
    fn multiple_service_packet() {
        let a = hex("4c 02 91 01 41 00 0100");
        let b = hex("0e 03 20 01 24 01 30 01");
        let mut cip = hex("0a 02 20 02 24 01 0200 0600");
        cip.extend(((6 + a.len()) as u16).to_le_bytes());
        cip.extend(&a);
        cip.extend(&b);
        let d = decode(&rr(5, &cip), Side::Client).unwrap();
        assert_eq!(
            d.summary,
            "enip SendRRData session=0x00000005 cip Multiple_Service_Packet request class=0x02 (Message Router) instance=1 2 services: Read Tag tag=A count=1; Get_Attribute_Single class=0x01 (Identity) instance=1 attribute=1"
        );
        assert_eq!(
            d.fields["cip"]["services"][1]["path"],
            json!({"class": 1, "instance": 1, "attribute": 1})
        );
        let reply = hex("8a 00 1e 00 0200 0600 0e00 cc 00 00 00 c300 0700 8e 00 08 00");
        let d = decode(&rr(5, &reply), Side::Server).unwrap();
        assert_eq!(
            d.summary,
            "enip SendRRData session=0x00000005 cip Multiple_Service_Packet reply status=0x1e (embedded service error) 2 services: Read Tag status=0x00 (success) INT: 7; Get_Attribute_Single status=0x08 (service not supported)"
        );
        // An offset past the end.
        let bad = hex("0a 02 20 02 24 01 0100 6000");
        assert!(decode(&rr(5, &bad), Side::Client)
            .unwrap_err()
            .0
            .contains("runs past"));
    }

    #[test]
    fn connected_and_forward_open() {
        // Forward_Open to a 1756-L61 in slot 0 (message router).
        let fo = hex("54 02 20 06 24 01 0a 0e 00000000 01000280 0100 4d00 efbeadde 03 000000 80841e00 f443 80841e00 f443 a3 03 01 00 20 02 24 01");
        let d = decode(&rr(9, &fo), Side::Client).unwrap();
        assert_eq!(
            d.summary,
            "enip SendRRData session=0x00000009 cip Forward_Open request serial=0x0001 vendor=77 originator=0xdeadbeef rpi=2000000us/2000000us path port=1/0 class=0x02 (Message Router) instance=1"
        );
        assert_eq!(d.fields["cip"]["t_o_connection_id"], 0x80020001u32);
        let reply = hex("d4 00 00 00 01000180 01000280 0100 4d00 efbeadde 80841e00 80841e00 00 00");
        assert!(summary(&rr(9, &reply), Side::Server)
            .ends_with("Forward_Open reply status=0x00 (success) o_t=0x80010001 t_o=0x80020001 serial=0x0001 api=2000000us/2000000us"));
        // SendUnitData over the connection.
        let mut body = hex("00000000 0000 0200 a100 0400 01000180 b100");
        let cip = hex("4c 02 91 01 41 00 0100");
        body.extend(((cip.len() + 2) as u16).to_le_bytes());
        body.extend([3, 0]);
        body.extend(&cip);
        let d = decode(&encap(0x70, 9, &body), Side::Client).unwrap();
        assert_eq!(
            d.summary,
            "enip SendUnitData session=0x00000009 conn=0x80010001 seq=3 cip Read Tag request tag=A count=1"
        );
        assert_eq!(d.fields["items"][1]["sequence"], 3);
        let fc = hex("4e 02 20 06 24 01 0a 0e 0100 4d00 efbeadde 03 00 01 00 20 02 24 01");
        assert!(summary(&rr(9, &fc), Side::Client).ends_with(
            "Forward_Close request serial=0x0001 vendor=77 originator=0xdeadbeef path port=1/0 class=0x02 (Message Router) instance=1"
        ));
    }

    #[test]
    fn malformed_frames_say_why() {
        let why = |f: &[u8]| decode(f, Side::Client).unwrap_err().0;
        assert!(why(&[0x63, 0]).contains("shorter than the 24-byte"));
        let mut long = encap(0x63, 0, &[]);
        long[2] = 4;
        assert!(why(&long).contains("encapsulation length 4, but 0 bytes"));
        let short_item = encap(0x6f, 0, &hex("00000000 0000 0100 b200 0900 4c"));
        assert!(why(&short_item).contains("CPF item 1 (unconnected data) length 9 runs past"));
        let path = rr(0, &hex("4c 05 91 05 41"));
        assert!(why(&path).contains("too short for the request path"));
        // Unknown commands and services are named, not malformed.
        assert_eq!(
            summary(&encap(0x99, 1, &[1, 2]), Side::Client),
            "enip command 0x0099 request session=0x00000001 2 bytes"
        );
        assert!(summary(&rr(0, &hex("33 00 aa")), Side::Client)
            .ends_with("cip service 0x33 request 1 byte"));
    }

    /// Frames captured between cpppo 5.2.5's simulator and client, as
    /// tshark 4 dissects them (traffic/NOTES.md).
    #[test]
    fn a_cpppo_session() {
        let cases = [
            (Side::Server, "63003c00763cbf2f0000000000000000000000000000000001000c00360001000002af1200000000000000000000000001000e003600140b60311a066c0014313735362d4c36312f42204c4f47495835353631ff",
             "enip ListIdentity reply vendor=1 device_type=14 product_code=54 rev=20.11 serial=0x006c061a name=\"1756-L61/B LOGIX5561\""),
            (Side::Client, "6f003000763cbf2f00000000300000000000000000000000000000000800020000000000b2002000520220062401059d12004d0591055343414441002801c3000100630001000100",
             "enip SendRRData session=0x2fbf3c76 cip Unconnected_Send request route port=1/0: Write Tag request tag=SCADA[1] INT count=1: 99"),
            (Side::Server, "6f001e00763cbf2f00000000310000000000000000000000000000000800020000000000b2000e00cc000000c3000000630000000000",
             "enip SendRRData session=0x2fbf3c76 cip Read Tag reply status=0x00 (success) INT: 0 99 0 0"),
            (Side::Server, "65000400285186b70000000000000000000000000000000001000000",
             "enip RegisterSession reply session=0xb7865128 version=1 options=0"),
            (Side::Client, "6f005200285186b700000000300000000000000000000000000000000800020000000000b2004200520220062401059d34000a022002240103000800160020004c059105534341444100280002004c03910454454d5001004c059105434f554e54002802010001000100",
             "enip SendRRData session=0xb7865128 cip Unconnected_Send request route port=1/0: Multiple_Service_Packet request class=0x02 (Message Router) instance=1 3 services: Read Tag tag=SCADA[0] count=2; Read Tag tag=TEMP count=1; Read Tag tag=COUNT[2] count=1"),
        ];
        for (from, frame, want) in cases {
            assert_eq!(summary(&hex(frame), from), want);
        }
    }

    #[test]
    fn requests_name_bad_words() {
        assert_eq!(
            request(&["foo"], &Default::default()).unwrap_err(),
            "unknown enip request 'foo' (expected list-identity, register-session, list-services)"
        );
        assert!(request(&[], &Default::default())
            .unwrap_err()
            .contains("expected list-identity"));
        assert_eq!(
            request(&["list-identity", "x"], &Default::default()).unwrap_err(),
            "'x': enip list-identity takes no arguments"
        );
    }

    /// xorshift64*: deterministic bytes without a dependency.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn any_bytes_decode_without_panicking() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let samples = [
            rr(1, &hex("52 02 20 06 24 01 05 9d 0c00 4c 04 91 05 53434144 41 00 0100 01 00 01 00")),
            rr(1, &hex("8a 00 1e 00 0200 0600 0e00 cc 00 00 00 c300 0700 8e 00 08 00")),
            rr(1, &hex("54 02 20 06 24 01 0a 0e 00000000 01000280 0100 4d00 efbeadde 03 000000 80841e00 f443 80841e00 f443 a3 03 01 00 20 02 24 01")),
            encap(0x63, 0, &hex("0100 0c00 0800 0100 0002af12 c0a8")),
        ];
        for round in 0..200_000 {
            let frame: Vec<u8> = if round % 2 == 0 {
                // Mutate a valid frame, then fix its length field.
                let mut f = samples[round / 2 % samples.len()].clone();
                for _ in 0..1 + rng(&mut seed) % 4 {
                    let at = (rng(&mut seed) as usize) % f.len();
                    f[at] = rng(&mut seed) as u8;
                }
                let cut = (rng(&mut seed) as usize) % (f.len() + 1);
                f.truncate(cut.max(24));
                let len = (f.len() - 24) as u16;
                f[2..4].copy_from_slice(&len.to_le_bytes());
                f
            } else {
                let n = (rng(&mut seed) % 80) as usize;
                let mut f: Vec<u8> = (0..n).map(|_| rng(&mut seed) as u8).collect();
                if f.len() >= 24 {
                    let len = (f.len() - 24) as u16;
                    f[2..4].copy_from_slice(&len.to_le_bytes());
                    f[0] = [0x63, 0x6f, 0x70, 0x04, 0x65][round % 5];
                }
                f
            };
            for from in [Side::Client, Side::Server] {
                if let Ok(d) = decode(&frame, from) {
                    assert!(!d.summary.contains('\n'), "{}", d.summary);
                    assert!(d.fields.is_object());
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn proptest_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            for from in [Side::Client, Side::Server] {
                let _ = decode(&bytes, from);
                let mut framed = bytes.clone();
                if framed.len() >= 24 {
                    let len = (framed.len() - 24) as u16;
                    framed[2..4].copy_from_slice(&len.to_le_bytes());
                    let _ = decode(&framed, from);
                }
            }
        }
    }
}

#[cfg(test)]
mod timing {
    /// `cargo test --release --lib decode::enip::timing -- --ignored
    /// --nocapture`: the bench's ENIP-shaped message, summary only.
    #[test]
    #[ignore = "a timing probe, not a test"]
    fn summary_of_a_read_tag() {
        let mut m = vec![0x6f, 0x00, 40, 0x00];
        m.extend(7u32.to_le_bytes());
        m.extend([0; 4]);
        m.extend(9u64.to_le_bytes());
        m.extend([0; 4]);
        m.extend([0, 0, 0, 0, 0, 0, 2, 0]);
        m.extend([0, 0, 0, 0, 0xb2, 0, 24, 0]);
        m.extend([0x4c, 10, 0x91, 18]);
        m.extend(b"SCADA_TAG_00000007");
        m.extend([1, 0]);
        crate::decode::probe_summary("enip", &m);
    }
}
