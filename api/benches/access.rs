//! What authorisation adds to a request (`api/src/access.rs`): the key in the
//! `Authorization` header hashed and looked up among the configured principals, then
//! the policy asked whether one city's parking is visible. Nine cities, 40 keys, a
//! partner share and a per-kind share, as in a network of nine towns. The target
//! is ≤ 2 µs per request.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use stadtpuls_api::access::Policy;
use stadtpuls_api::sql::hash_key;
use stadtpuls_config::{Anonymous, ApiKeyConfig, CityScope, Config, DataKind, Share, SharePolicy};

fn policy() -> Policy {
    let demo = Config::demo(&Default::default()).expect("demo config");
    let mut cities = demo.cities.clone();
    let ids: Vec<String> = cities.iter().map(|c| c.id.clone()).collect();
    for (i, city) in cities.iter_mut().enumerate() {
        city.share = match i % 3 {
            0 => SharePolicy::default(),
            1 => SharePolicy {
                traffic: Share::Partners,
                parking: Share::Open,
                partners: vec![ids[(i + 1) % ids.len()].clone()],
            },
            _ => SharePolicy {
                partners: vec![ids[0].clone()],
                ..SharePolicy::uniform(Share::Partners)
            },
        };
    }
    let keys: Vec<ApiKeyConfig> = (0..40)
        .map(|i| ApiKeyConfig {
            principal: format!("principal-{i}"),
            key_sha256: hash_key(&format!("key-{i:02}-0123456789abcdef0123456789")),
            cities: CityScope::Only(vec![
                ids[i % ids.len()].clone(),
                ids[(i + 4) % ids.len()].clone(),
            ]),
        })
        .collect();
    Policy::new(&keys, &cities, Anonymous::Open)
}

fn authorise(c: &mut Criterion) {
    let policy = policy();
    let header = "Bearer key-17-0123456789abcdef0123456789";
    assert!(
        policy.principal(Some(header)).is_ok(),
        "the key is configured"
    );
    c.bench_function("authorise: key lookup + policy check", |b| {
        b.iter(|| {
            let principal = policy
                .principal(black_box(Some(header)))
                .expect("configured key");
            black_box(principal.sees(black_box("heidelberg"), DataKind::Parking))
        })
    });
    c.bench_function("authorise: anonymous + policy check", |b| {
        b.iter(|| {
            let principal = policy
                .principal(black_box(None))
                .expect("anonymous is open");
            black_box(principal.sees(black_box("heidelberg"), DataKind::Parking))
        })
    });
}

criterion_group!(benches, authorise);
criterion_main!(benches);
