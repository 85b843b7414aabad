//! Password attempts are rate-limited per user name and per client address (an IPv6 client by
//! its /64, which one host typically holds whole), each with two GCRA limits (the `governor`
//! crate): a short one that lets a person mistype a few times, and a long one that slows a
//! guesser further — a backoff in two steps. Every attempt counts, right or wrong, and is
//! counted before the password is checked, so a flood of attempts costs no Argon2 work either.
//! A refusal says when to try again (`Retry-After`).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LoginLimits;

/// Keys beyond which the limiters forget keys whose limits are back to full.
const CLEAN_FROM_KEYS: usize = 10_000;

/// Refused: too many attempts for this user name or from this address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// What was limited: `user name` or `address`.
    pub by: &'static str,
    pub retry_after: Duration,
}

/// The limits on sign-in attempts.
pub struct LoginThrottle {
    by_name: [DefaultKeyedRateLimiter<String>; 2],
    by_address: [DefaultKeyedRateLimiter<IpAddr>; 2],
    clock: DefaultClock,
}

impl LoginThrottle {
    pub fn new(limits: &LoginLimits) -> Self {
        Self {
            by_name: [
                limiter(limits.name_burst, limits.name_every_secs),
                limiter(limits.name_long_burst, limits.name_long_every_secs),
            ],
            by_address: [
                limiter(limits.address_burst, limits.address_every_secs),
                limiter(limits.address_long_burst, limits.address_long_every_secs),
            ],
            clock: DefaultClock::default(),
        }
    }

    /// Counts an attempt to sign in as `username` from `client` (unknown for requests that do
    /// not come over TCP), or says why it may not be made now.
    pub fn attempt(&self, username: &str, client: Option<IpAddr>) -> Result<(), Throttled> {
        let name = username.to_lowercase();
        let now = self.clock.now();
        for limiter in &self.by_name {
            if let Err(not_until) = limiter.check_key(&name) {
                return Err(Throttled {
                    by: "user name",
                    retry_after: not_until.wait_time_from(now),
                });
            }
        }
        if let Some(client) = client.map(network) {
            for limiter in &self.by_address {
                if let Err(not_until) = limiter.check_key(&client) {
                    return Err(Throttled {
                        by: "address",
                        retry_after: not_until.wait_time_from(now),
                    });
                }
            }
        }
        self.clean();
        Ok(())
    }

    /// Forgets the keys that are back to their full burst, once there are many (names and
    /// addresses an attacker makes up would otherwise pile up).
    fn clean(&self) {
        for limiter in &self.by_name {
            if limiter.len() > CLEAN_FROM_KEYS {
                limiter.retain_recent();
            }
        }
        for limiter in &self.by_address {
            if limiter.len() > CLEAN_FROM_KEYS {
                limiter.retain_recent();
            }
        }
    }
}

/// The client behind `peer`: `peer` itself, or — when it is one of the `trusted` proxies — the
/// last address of its `X-Forwarded-For` that is not a trusted proxy (the ones before it are
/// whatever the client chose to send).
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops = forwarded_for.unwrap_or_default().split(',').rev();
    let client = hops
        .map(|hop| hop.trim().parse::<IpAddr>().ok())
        .find(|hop| hop.is_none_or(|hop| !trusted.contains(&hop)));
    // No header, or a hop that is not an address: the proxy is all that is known, and its
    // limit is everyone's behind it.
    client.flatten().unwrap_or(peer)
}

/// A limit of `burst` attempts at once, then one every `every_secs`, per key.
fn limiter<K: Clone + Eq + Hash>(burst: u32, every_secs: u64) -> DefaultKeyedRateLimiter<K> {
    let quota = Quota::with_period(Duration::from_secs(every_secs.max(1)))
        .unwrap_or_else(|| unreachable!("the period is at least a second"))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
    RateLimiter::keyed(quota)
}

/// The part of an address that names one client: all of an IPv4 address, the /64 of an IPv6
/// one (an IPv4-mapped IPv6 address is its IPv4 address).
fn network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LoginLimits {
        LoginLimits {
            name_burst: 3,
            name_every_secs: 60,
            address_burst: 5,
            address_every_secs: 60,
            ..LoginLimits::default()
        }
    }

    #[test]
    fn names_and_addresses_run_out_of_attempts() {
        let throttle = LoginThrottle::new(&limits());
        let home: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(throttle.attempt("Alice", Some(home)), Ok(()));
        }
        let refused = throttle.attempt("alice", Some(home)).unwrap_err();
        assert_eq!(refused.by, "user name");
        assert!(refused.retry_after > Duration::from_secs(50), "{refused:?}");
        // Another name from the same address, until the address is out too.
        assert_eq!(throttle.attempt("bob", Some(home)), Ok(()));
        assert_eq!(throttle.attempt("carol", Some(home)), Ok(()));
        assert_eq!(
            throttle.attempt("dave", Some(home)).unwrap_err().by,
            "address"
        );
        // Another host is not limited by this one.
        assert_eq!(throttle.attempt("erin", "192.0.2.2".parse().ok()), Ok(()));
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let client: IpAddr = "198.51.100.9".parse().unwrap();
        let trusted = [proxy];
        assert_eq!(client_address(client, Some("10.0.0.1"), &trusted), client);
        assert_eq!(
            client_address(proxy, Some("10.9.9.9, 198.51.100.9"), &trusted),
            client,
            "the client's own claim (10.9.9.9) is not believed"
        );
        assert_eq!(
            client_address(proxy, Some("198.51.100.9, 127.0.0.1"), &trusted),
            client
        );
        assert_eq!(client_address(proxy, None, &trusted), proxy);
        assert_eq!(client_address(proxy, Some("garbage"), &trusted), proxy);
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let throttle = LoginThrottle::new(&limits());
        for i in 0..5 {
            let address = format!("2001:db8:1:2::{i:x}").parse().ok();
            assert_eq!(throttle.attempt(&format!("user{i}"), address), Ok(()));
        }
        let next = "2001:db8:1:2:ffff::1".parse().ok();
        assert_eq!(throttle.attempt("user9", next).unwrap_err().by, "address");
        assert_eq!(
            network("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }
}
