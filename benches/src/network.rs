//! A synthetic network of any size for the cost curve (`stadtpuls bench --network`): every
//! sensor of every city reports once a minute, in the reference workload's line format, so
//! what grows from one point of the curve to the next is the network, not the load per
//! sensor.
//!
//! The reference workload (`shared/bench/gen.py`) has a fixed network (9 cities × 2,000
//! sensors) and 5 million lines over one hour: about 4.6 reports per sensor and minute. A
//! network of 10 million sensors at that rate would be 2.8 billion lines an hour; one report
//! a minute over a few minutes keeps the largest point within memory and disk while still
//! opening a window for every sensor.

use std::io::{self, Write};

use crate::workload::{CITIES, START_MS};

/// Milliseconds of one reporting interval.
const MINUTE_MS: i64 = 60_000;

/// The size of a synthetic network and how long it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// Cities: the reference workload's nine first, then `city-10`, `city-11`, ….
    pub cities: usize,
    /// Traffic sensors per city.
    pub sensors_per_city: usize,
    /// Minutes of reports; every sensor reports once in each.
    pub minutes: u32,
}

impl Network {
    /// Parses `CITIESxSENSORS` (e.g. `50x200000`); the minutes are given separately.
    pub fn parse(text: &str, minutes: u32) -> Result<Self, String> {
        let (cities, sensors) = text
            .split_once('x')
            .ok_or_else(|| format!("`{text}` is not CITIESxSENSORS, e.g. 9x2000"))?;
        let number = |part: &str, what: &str| {
            part.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("`{part}` in `{text}` is not a positive number of {what}"))
        };
        let network = Self {
            cities: number(cities, "cities")?,
            sensors_per_city: number(sensors, "sensors per city")?,
            minutes,
        };
        if network.sensors_per_city > 999_999 {
            return Err(format!(
                "`{text}`: at most 999999 sensors per city (six-digit sensor ids)"
            ));
        }
        if minutes == 0 {
            return Err("the network must report for at least one minute".into());
        }
        Ok(network)
    }

    /// Sensors in the whole network.
    pub fn sensors(&self) -> usize {
        self.cities * self.sensors_per_city
    }

    /// Lines [`write_ndjson`](Self::write_ndjson) writes: one per sensor and minute.
    pub fn lines(&self) -> usize {
        self.sensors() * self.minutes as usize
    }

    /// City ids and sensor-id prefixes, the reference workload's first.
    pub fn cities(&self) -> Vec<(String, String)> {
        (0..self.cities)
            .map(|i| match CITIES.get(i) {
                Some((city, prefix)) => ((*city).to_owned(), (*prefix).to_owned()),
                None => (format!("city-{}", i + 1), format!("c{}", i + 1)),
            })
            .collect()
    }

    /// Writes the network's reports as JSON lines: minute by minute, each minute's
    /// reports spread evenly over it in an order that visits every sensor once (a fixed
    /// stride through the network, so neighbouring lines are far apart in the id table, as
    /// reports from many field devices are), 2 % of them up to 30 s late, as in the
    /// reference workload. Deterministic.
    pub fn write_ndjson(&self, out: &mut impl Write) -> io::Result<()> {
        let cities = self.cities();
        let total = self.sensors() as u64;
        let stride = coprime_stride(total);
        let mut rng = Rng(0x5EED_5EED_5EED_5EED);
        let mut line = Vec::with_capacity(192);
        for minute in 0..i64::from(self.minutes) {
            let start = START_MS + minute * MINUTE_MS;
            for j in 0..total {
                let k = (j * stride) % total;
                let (city, prefix) = &cities[(k / self.sensors_per_city as u64) as usize];
                let sensor = k % self.sensors_per_city as u64 + 1;
                let mut ts = start + (j as i64 * MINUTE_MS) / total as i64;
                if rng.below(50) == 0 {
                    ts = (ts - 1 - rng.below(30_000) as i64).max(START_MS);
                }
                let lane = rng.below(3) + 1;
                let vc = rng.below(41);
                let sp = rng.below(1301);
                let oc = rng.below(1001);
                let hv = rng.below(vc + 1);
                line.clear();
                write!(
                    line,
                    r#"{{"city":"{city}","sensor_id":"{prefix}-{sensor:06}","lane":{lane},"ts":{ts},"vehicle_count":{vc},"speed_kmh":{}.{},"occupancy_pct":{}.{},"heavy_vehicles":{hv}}}"#,
                    sp / 10,
                    sp % 10,
                    oc / 10,
                    oc % 10
                )?;
                line.push(b'\n');
                out.write_all(&line)?;
            }
        }
        Ok(())
    }
}

/// A stride near the golden ratio of `n` that shares no factor with it, so `j * stride % n`
/// visits every sensor once per minute.
fn coprime_stride(n: u64) -> u64 {
    if n <= 2 {
        return 1;
    }
    let mut stride = (n as f64 * 0.618_033_988_75) as u64 | 1;
    while gcd(stride, n) != 1 {
        stride += 2;
    }
    stride % n
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_sensor_reports_once_a_minute() {
        let network = Network::parse("11x7", 2).expect("valid");
        let mut out = Vec::new();
        network.write_ndjson(&mut out).expect("in memory");
        let lines: Vec<serde_json::Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 2 * 77);
        for minute in lines.chunks(77) {
            let ids: HashSet<(String, String)> = minute
                .iter()
                .map(|l| (l["city"].to_string(), l["sensor_id"].to_string()))
                .collect();
            assert_eq!(ids.len(), 77, "each of 11 × 7 sensors once");
        }
        let cities: HashSet<&str> = lines.iter().filter_map(|l| l["city"].as_str()).collect();
        assert!(
            cities.contains("pforzheim") && cities.contains("city-11"),
            "{cities:?}"
        );
        let late = lines
            .windows(2)
            .filter(|w| w[1]["ts"].as_i64() < w[0]["ts"].as_i64())
            .count();
        assert!(
            late < lines.len() / 5,
            "a few late reports, not a shuffle: {late}"
        );
    }

    #[test]
    fn sizes_are_checked() {
        assert!(Network::parse("9x2000", 1).is_ok());
        for bad in ["9", "0x10", "9x0", "ax2", "9x1000000"] {
            assert!(Network::parse(bad, 1).is_err(), "{bad}");
        }
        assert!(Network::parse("9x2000", 0).is_err());
        assert_eq!(coprime_stride(77) * 77 % 77, 0);
        assert_eq!(gcd(coprime_stride(2_000_000), 2_000_000), 1);
    }
}
