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
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

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
    refusals_logged: DefaultDirectRateLimiter,
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
            refusals_logged: RateLimiter::direct(
                Quota::per_second(NonZeroU32::MIN)
                    .allow_burst(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN)),
            ),
            clock: DefaultClock::default(),
        }
    }

    /// Counts an attempt to sign in as `username` (`None`: a name no user can have) from
    /// `client` (unknown for requests that do not come over TCP), or says why it may not be made
    /// now. The address is counted first: a client it refuses makes no key for the names it
    /// tries, so made-up names cannot pile up faster than its own limit lets them.
    pub fn attempt(&self, username: Option<&str>, client: Option<IpAddr>) -> Result<(), Throttled> {
        self.clean();
        let now = self.clock.now();
        if let Some(client) = client.map(network) {
            check(&self.by_address, &client, "address", now)?;
        }
        if let Some(name) = username {
            check(&self.by_name, &name.to_lowercase(), "user name", now)?;
        }
        Ok(())
    }

    /// Whether a refused attempt gets an audit line: at most one a second after a burst of ten,
    /// so that a flood of refused attempts cannot flood the log too.
    pub fn audit_refusal(&self) -> bool {
        self.refusals_logged.check().is_ok()
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

/// Counts an attempt against `key` in each of `limiters`, or says when it may be made.
fn check<K: Clone + Eq + Hash>(
    limiters: &[DefaultKeyedRateLimiter<K>],
    key: &K,
    by: &'static str,
    now: <DefaultClock as Clock>::Instant,
) -> Result<(), Throttled> {
    for limiter in limiters {
        limiter.check_key(key).map_err(|not_until| Throttled {
            by,
            retry_after: not_until.wait_time_from(now),
        })?;
    }
    Ok(())
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
            assert_eq!(throttle.attempt(Some("Alice"), Some(home)), Ok(()));
        }
        let refused = throttle.attempt(Some("alice"), Some(home)).unwrap_err();
        assert_eq!(refused.by, "user name");
        assert!(refused.retry_after > Duration::from_secs(50), "{refused:?}");
        // Another name from the same address, until the address is out too (the refused
        // attempt counted against it).
        assert_eq!(throttle.attempt(Some("bob"), Some(home)), Ok(()));
        assert_eq!(
            throttle.attempt(Some("carol"), Some(home)).unwrap_err().by,
            "address"
        );
        // A refused address makes no key for the names it tries.
        let before = throttle.by_name[0].len();
        for i in 0..100 {
            assert!(
                throttle
                    .attempt(Some(&format!("made-up-{i}")), Some(home))
                    .is_err()
            );
        }
        assert_eq!(throttle.by_name[0].len(), before);
        // Another host is not limited by this one; a name no user can have counts its address.
        assert_eq!(
            throttle.attempt(Some("erin"), "192.0.2.2".parse().ok()),
            Ok(())
        );
        assert_eq!(throttle.attempt(None, "192.0.2.2".parse().ok()), Ok(()));
        assert_eq!(throttle.by_address[0].len(), 2);
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
            assert_eq!(throttle.attempt(Some(&format!("user{i}")), address), Ok(()));
        }
        let next = "2001:db8:1:2:ffff::1".parse().ok();
        assert_eq!(
            throttle.attempt(Some("user9"), next).unwrap_err().by,
            "address"
        );
        assert_eq!(
            network("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }
}
