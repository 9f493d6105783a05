//! `stadtpuls config check FILE`.

use std::path::Path;

use anyhow::bail;
use stadtpuls_config::{Config, env_from_process};

/// Loads, validates and summarises a config file and its registries.
pub fn run(file: &Path) -> anyhow::Result<()> {
    let env = env_from_process();
    let checked = Config::load(file, &env).and_then(|config| {
        let registries = config.load_registries()?;
        Ok((config, registries))
    });
    let (config, registries) = match checked {
        Ok(ok) => ok,
        Err(errors) => {
            eprintln!("{errors}");
            bail!("{} problem(s) in {}", errors.0.len(), file.display());
        }
    };
    println!("{}: ok", file.display());
    println!(
        "  kafka: {} (group {}, pattern {})",
        config.kafka.brokers, config.kafka.group_id, config.kafka.topic_pattern
    );
    let sizes: Vec<String> = config
        .windows
        .sizes
        .iter()
        .map(|d| humantime::format_duration(*d).to_string())
        .collect();
    println!(
        "  windows: {} (out-of-orderness {})",
        sizes.join(", "),
        humantime::format_duration(config.windows.out_of_orderness)
    );
    println!("  api: {}", config.api.bind);
    for registry in &registries {
        println!(
            "  city {}: {} traffic sensors, {} facilities, {} spots",
            registry.city.id,
            registry.traffic_sensors().count(),
            registry.facilities().count(),
            registry.spots().count()
        );
    }
    Ok(())
}
