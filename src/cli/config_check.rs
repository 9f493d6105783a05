//! `stadtpuls config check FILE`.

use std::path::Path;

use anyhow::bail;
use stadtpuls_config::{CheckedConfig, Config, InstanceId, env_from_process};

/// Loads, validates and summarises a config file, its registries and zone files.
pub fn run(file: &Path) -> anyhow::Result<()> {
    let env = env_from_process();
    // Registries and zone files are read even when the config has problems, so every
    // problem is reported at once.
    let CheckedConfig {
        config,
        registries,
        zones,
    } = match Config::check(file, &env) {
        Ok(checked) => checked,
        Err(errors) => {
            eprintln!("{errors}");
            bail!("{} problem(s) in {}", errors.len(), file.display());
        }
    };
    println!("{}: ok", file.display());
    println!(
        "  kafka: {} (group {}, pattern {})",
        config.kafka.brokers, config.kafka.group_id, config.kafka.topic_pattern
    );
    let membership = match &config.kafka.instance_id {
        InstanceId::Fixed(id) => format!("static, instance id {id}"),
        InstanceId::FromHost => match super::run::derived_instance_id(&config) {
            Some(id) => format!("static, instance id {id} (hostname and API port)"),
            None => "dynamic (no hostname or API port 0 to derive an instance id from)".to_owned(),
        },
        InstanceId::Dynamic => "dynamic (kafka.instance_id = \"\")".to_owned(),
    };
    println!("  group membership: {membership}");
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
    for (registry, city_zones) in registries.iter().zip(&zones) {
        println!(
            "  city {}: {} traffic sensors, {} facilities, {} spots, {} zones",
            registry.city.id,
            registry.traffic_sensors().count(),
            registry.facilities().count(),
            registry.spots().count(),
            city_zones.zones.len()
        );
    }
    Ok(())
}
