//! A tiny writer of MaxMind DB files (format 2.0: a binary search tree over address bits, a
//! data section, a metadata map), enough to give tests an IPv4 city database of their own:
//! each network maps to a record `{country: {iso_code}, location: {latitude, longitude}}` as
//! GeoIP2-City lays it out. 32-bit records; no pointers or deduplication.

use std::net::Ipv4Addr;

/// One record of the data section.
enum Value<'a> {
    Str(&'a str),
    Double(f64),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(&'a str, Value<'a>)>),
    Array(Vec<Value<'a>>),
}

/// Control byte(s) for `type_num` with `size` (format §"Data Field Format").
fn control(out: &mut Vec<u8>, type_num: u8, size: usize) {
    let (size_bits, ext): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, vec![]),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65_820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if type_num <= 7 {
        out.push((type_num << 5) | size_bits);
    } else {
        // Extended type: type bits 0, then the type minus 7 in the next byte.
        out.push(size_bits);
        out.push(type_num - 7);
    }
    out.extend(ext);
}

fn uint(out: &mut Vec<u8>, type_num: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, type_num, 8 - skip);
    out.extend(&bytes[skip..]);
}

fn encode(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Str(s) => {
            control(out, 2, s.len());
            out.extend(s.as_bytes());
        }
        Value::Double(d) => {
            control(out, 3, 8);
            out.extend(d.to_be_bytes());
        }
        Value::U16(n) => uint(out, 5, u64::from(*n)),
        Value::U32(n) => uint(out, 6, u64::from(*n)),
        Value::U64(n) => uint(out, 9, *n),
        Value::Map(pairs) => {
            control(out, 7, pairs.len());
            for (k, v) in pairs {
                encode(out, &Value::Str(k));
                encode(out, v);
            }
        }
        Value::Array(items) => {
            control(out, 11, items.len());
            for i in items {
                encode(out, i);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

/// An IPv4 city database: `(network, prefix length, ISO country, latitude, longitude)`.
pub fn city_db(networks: &[(Ipv4Addr, u8, &str, f64, f64)]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
    for (net, len, country, lat, lon) in networks {
        let offset = data.len();
        encode(
            &mut data,
            &Value::Map(vec![
                (
                    "country",
                    Value::Map(vec![("iso_code", Value::Str(country))]),
                ),
                (
                    "location",
                    Value::Map(vec![
                        ("latitude", Value::Double(*lat)),
                        ("longitude", Value::Double(*lon)),
                    ]),
                ),
            ]),
        );
        let bits = u32::from(*net);
        let mut node = 0;
        for depth in 0..*len {
            let bit = ((bits >> (31 - depth)) & 1) as usize;
            if depth + 1 == *len {
                nodes[node][bit] = Rec::Data(offset);
            } else {
                node = match nodes[node][bit] {
                    Rec::Node(n) => n,
                    _ => {
                        nodes.push([Rec::Empty, Rec::Empty]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Rec::Node(n);
                        n
                    }
                };
            }
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for pair in &nodes {
        for r in pair {
            let v = match r {
                Rec::Empty => count,
                Rec::Node(n) => *n,
                // Data pointers start after the 16-byte separator.
                Rec::Data(off) => count + 16 + off,
            };
            out.extend((v as u32).to_be_bytes());
        }
    }
    out.extend([0u8; 16]);
    out.extend(data);
    out.extend(b"\xAB\xCD\xEFMaxMind.com");
    encode(
        &mut out,
        &Value::Map(vec![
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(1_764_547_200)),
            ("database_type", Value::Str("Lanyard-Test-City")),
            (
                "description",
                Value::Map(vec![("en", Value::Str("test networks"))]),
            ),
            ("ip_version", Value::U16(4)),
            ("languages", Value::Array(vec![Value::Str("en")])),
            ("node_count", Value::U32(count as u32)),
            ("record_size", Value::U16(32)),
        ]),
    );
    out
}
