//! Which addresses webhooks may be sent to on a deployment (server-side request forgery).

use std::net::{IpAddr, Ipv4Addr};

/// Whether `ip` is on the public internet: not loopback, private, link-local (the cloud
/// metadata address 169.254.169.254 included), shared (100.64/10), benchmarking (198.18/15),
/// IETF-reserved (192.0.0/24, 240/4), unspecified, multicast or documentation space, in IPv4 or
/// IPv6. An IPv6 address that carries an IPv4 one (IPv4-mapped or -translated, NAT64's
/// 64:ff9b::/96, 6to4's 2002::/16) is judged as that IPv4 address: a translator or gateway
/// would take it there.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || (a, b, c) == (192, 0, 0)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let ipv4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
            let carried = v6
                .to_ipv4_mapped()
                .or_else(|| (s[..6] == [0, 0, 0, 0, 0xffff, 0]).then(|| ipv4(s[6], s[7]))) // IPv4-translated
                .or_else(|| (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]).then(|| ipv4(s[6], s[7])))
                .or_else(|| (s[0] == 0x2002).then(|| ipv4(s[1], s[2])));
            match carried {
                Some(v4) => is_public(IpAddr::V4(v4)),
                None => {
                    !(v6.is_loopback()
                        || v6.is_unspecified()
                        || v6.is_multicast()
                        || v6.is_unique_local()
                        || v6.is_unicast_link_local()
                        || s[..6] == [0; 6] // IPv4-compatible (deprecated): ::a.b.c.d
                        || s[..3] == [0x64, 0xff9b, 1] // NAT64 for local use
                        || s[..4] == [0x100, 0, 0, 0] // discard-only
                        || (s[0] == 0x2001 && s[1] < 0x200) // IETF protocol assignments, Teredo
                        || (s[0] == 0x2001 && s[1] == 0x0db8)
                        || (s[0] == 0x3fff && s[1] < 0x1000) // documentation (3fff::/20)
                        || s[0] == 0x5f00 // segment routing (SRv6 SIDs)
                        || (s[0] & 0xffc0) == 0xfec0) // site-local (deprecated)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        let refused = [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.8",
            "240.0.0.1",
            "64:ff9b::7f00:1",    // NAT64 of 127.0.0.1
            "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
            "2002:7f00:1::1",     // 6to4 of 127.0.0.1
            "2002:a00:1::",       // 6to4 of 10.0.0.1
            "64:ff9b:1::a00:1",   // local-use NAT64
            "100::1",             // discard-only
            "2001::1",            // Teredo
            "::127.0.0.1",        // IPv4-compatible
            "::ffff:0:a00:1",     // IPv4-translated 10.0.0.1
            "3fff::1",            // documentation
            "5f00::1",            // SRv6
            "fec0::1",            // site-local
        ];
        for ip in refused {
            assert!(!is_public(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::ffff:0:808:808",
            "3fff:1000::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
    }
}
