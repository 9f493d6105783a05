//! The broker's view of a consumer group: who it lists as members (DescribeGroups), so a
//! test can wait for the group coordinator itself instead of inferring it from a member's log.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// The member ids the broker lists for `group`, or `None` when the request failed.
pub fn members(brokers: &str, group: &str) -> Option<Vec<String>> {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .ok()?;
    let list = client
        .fetch_group_list(Some(group), Duration::from_secs(5))
        .ok()?;
    let info = list.groups().iter().find(|g| g.name() == group)?;
    Some(info.members().iter().map(|m| m.id().to_owned()).collect())
}
