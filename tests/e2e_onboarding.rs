//! Walks `docs/onboarding.md` step by step, with the commands, config block, hand-added
//! row and expected values read out of the page itself (its fenced blocks tagged
//! `onboarding:<step>` and the table after `<!-- onboarding:levels -->`), so the page and
//! this test cannot drift: `stadtpuls registry import` on Aachen's table publication →
//! `stadtpuls config check` → `stadtpuls run` (a real broker) → Aachen's status document
//! produced to the feed topic, or pushed with the page's `curl` and push key → the free
//! spaces a person reads in the file in the API.
//!
//! What the test changes in the page's config is only what a shared test machine needs
//! (its broker, a port, its own topics and directories), named in `test_config`.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::ensure_topics;

use common::datex2::{AACHEN_STATUS, fixture, produce_document, wait_for_levels};
use common::{ensure_broker, free_port, run_id, run_ready};

const PAGE: &str = include_str!("../docs/onboarding.md");

/// The fenced blocks of the page by their tag: ```` ```sh onboarding:import ```` →
/// `onboarding:import`.
fn blocks(page: &str) -> HashMap<String, String> {
    let mut blocks = HashMap::new();
    let mut open: Option<(String, String)> = None;
    for line in page.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                let tag = info.split_whitespace().nth(1).unwrap_or_default();
                open = Some((tag.to_owned(), String::new()));
            }
            (Some(_), Some("")) => {
                if let Some((tag, body)) = open.take()
                    && tag.starts_with("onboarding:")
                {
                    blocks.insert(tag, body);
                }
            }
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

fn block<'a>(blocks: &'a HashMap<String, String>, tag: &str) -> &'a str {
    blocks
        .get(tag)
        .unwrap_or_else(|| panic!("docs/onboarding.md has no ```… {tag} block"))
}

/// A one-line `stadtpuls …` command of the page, without the program name.
fn stadtpuls_args(command: &str) -> Vec<String> {
    let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    assert_eq!(
        words.first().map(String::as_str),
        Some("stadtpuls"),
        "{command}"
    );
    words[1..].to_vec()
}

/// Runs the binary in `dir` like a user in that directory; returns stdout.
fn run_in(dir: &Path, args: &[String]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_stadtpuls"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run stadtpuls");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "stadtpuls {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Every line the page shows as output is a line of `stdout` (the page may leave lines out).
fn assert_shown_lines(shown: &str, stdout: &str) {
    let lines: Vec<&str> = stdout.lines().map(str::trim_end).collect();
    for line in shown.lines() {
        assert!(
            lines.contains(&line.trim_end()),
            "docs/onboarding.md shows `{line}`, the command printed:\n{stdout}"
        );
    }
}

/// The page's config with what this machine needs: the test broker, a free port, topics
/// and directories of this run, output off, 1-minute windows closing after 3 s idle.
fn test_config(page_config: &str, dir: &Path, run: &str, port: u16) -> (String, String) {
    let mut config: toml::Table = page_config.parse().expect("the page's config is TOML");
    let windows = config["windows"].as_table().expect("[windows]");
    // The sample's records span 21 minutes (and some days): the page must say so.
    assert_eq!(windows["out_of_orderness"].as_str(), Some("30m"));
    let table = |value: toml::Value| value.as_table().cloned().unwrap_or_default();
    let mut kafka = table(config["kafka"].clone());
    kafka.insert("brokers".into(), common::brokers().into());
    kafka.insert("group_id".into(), format!("stadtpuls-{run}").into());
    kafka.insert(
        "topic_pattern".into(),
        format!(r"^sensors\.onboarding-{run}\.(traffic|parking)$").into(),
    );
    kafka.insert(
        "deadletter_topic".into(),
        format!("deadletter-{run}").into(),
    );
    kafka.insert("batch_max_wait".into(), "50ms".into());
    let mut librdkafka = toml::Table::new();
    librdkafka.insert("topic.metadata.refresh.interval.ms".into(), "1000".into());
    kafka.insert("librdkafka".into(), librdkafka.into());
    config.insert("kafka".into(), kafka.into());
    let mut windows = table(config["windows"].clone());
    windows.insert("sizes".into(), toml::Value::Array(vec!["1m".into()]));
    windows.insert("idle_timeout".into(), "3s".into());
    config.insert("windows".into(), windows.into());
    let section = |pairs: &[(&str, toml::Value)]| -> toml::Value {
        let mut t = toml::Table::new();
        for (key, value) in pairs {
            t.insert((*key).into(), value.clone());
        }
        t.into()
    };
    config.insert(
        "api".into(),
        section(&[("bind", format!("127.0.0.1:{port}").into())]),
    );
    let path = |name: &str| dir.join(name).display().to_string();
    config.insert(
        "history".into(),
        section(&[("dir", path("history").into())]),
    );
    config.insert(
        "checkpoint".into(),
        section(&[("dir", path("state").into()), ("interval", "1s".into())]),
    );
    config.insert("output".into(), section(&[("enabled", false.into())]));
    // The page's feed topic, made this run's own.
    let feed = config["cities"][0]["feeds"][0]
        .as_table()
        .cloned()
        .expect("[[cities.feeds]]");
    let page_topic = feed["topic"].as_str().expect("topic").to_owned();
    let topic = format!("{page_topic}-{run}");
    if let Some(toml::Value::Array(cities)) = config.get_mut("cities")
        && let Some(toml::Value::Array(feeds)) = cities[0].get_mut("feeds")
        && let Some(first) = feeds[0].as_table_mut()
    {
        first.insert("topic".into(), topic.clone().into());
    }
    (config.to_string(), topic)
}

/// Steps 1–3 of the page in a fresh directory, `extra` TOML appended to the config: the
/// running instance, its client and this run's copy of the feed topic.
struct Onboarded {
    dir: tempfile::TempDir,
    run: String,
    topic: String,
    app: common::Stadtpuls,
    client: reqwest::Client,
}

async fn onboard(blocks: &HashMap<String, String>, extra: &str) -> Onboarded {
    let run = run_id();
    let dir = tempfile::tempdir().expect("tempdir");
    for name in [
        "parkapi-sources_aachen-static.xml",
        "parkapi-sources_aachen-realtime.xml",
    ] {
        std::fs::copy(fixture(name), dir.path().join(name)).expect("copy fixture");
    }

    // 1. Import the registry; add the row the page adds by hand.
    let import = stadtpuls_args(block(blocks, "onboarding:import"));
    let stdout = run_in(dir.path(), &import);
    assert_shown_lines(block(blocks, "onboarding:import-output"), &stdout);
    let registry = dir.path().join("aachen.csv");
    let mut csv = std::fs::read_to_string(&registry).expect("the import wrote aachen.csv");
    csv.push_str(block(blocks, "onboarding:by-hand"));
    std::fs::write(&registry, &csv).expect("add the row by hand");

    // 2. The config block, as the page shows it plus this machine's settings.
    let port = free_port();
    let (mut config, topic) =
        test_config(block(blocks, "onboarding:config"), dir.path(), &run, port);
    config.push_str(extra);
    std::fs::write(dir.path().join("stadtpuls.toml"), config).expect("write config");

    // 3. Check it, run it.
    let check = stadtpuls_args(block(blocks, "onboarding:check"));
    let stdout = run_in(dir.path(), &check);
    assert_shown_lines(block(blocks, "onboarding:check-output"), &stdout);
    let run_args = stadtpuls_args(block(blocks, "onboarding:run"));
    assert_eq!(run_args[..2], ["run", "--config"], "{run_args:?}");
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, &[topic.clone(), format!("deadletter-{run}")], 1)
        .await
        .expect("create topics");
    let (app, client) = run_ready(
        &dir.path().join(&run_args[2]),
        port,
        &dir.path().join("log"),
    )
    .await;
    Onboarded {
        dir,
        run,
        topic,
        app,
        client,
    }
}

/// 5. The page's table of free spaces, checked against the file's values and the API.
async fn check_levels(blocks: &HashMap<String, String>, onboarded: &Onboarded) {
    let url = block(blocks, "onboarding:api")
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .expect("the API URL");
    let path = url.splitn(4, '/').nth(3).expect("a path");
    let city = path
        .strip_prefix("v1/cities/")
        .and_then(|rest| rest.strip_suffix("/parking"))
        .expect("/v1/cities/{city}/parking");
    let (_, table) = PAGE
        .split_once("<!-- onboarding:levels -->")
        .expect("the levels table");
    let levels: Vec<(String, String, u64, u64)> = table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let number = |i: usize| cells[i].parse::<u64>().expect("a count");
            (
                cells[1].to_owned(),
                cells[2].to_owned(),
                number(3),
                number(4),
            )
        })
        .collect();
    let from_file: Vec<(String, u64, u64)> = AACHEN_STATUS
        .iter()
        .map(|(record, free, total)| ((*record).to_owned(), *free, *total))
        .collect();
    let on_page: Vec<(String, u64, u64)> = levels
        .iter()
        .map(|(_, record, free, total)| (record.clone(), *free, *total))
        .collect();
    assert_eq!(on_page, from_file, "the page's table is the file's values");
    let ids: Vec<String> = levels.iter().map(|(id, ..)| id.clone()).collect();
    let api = wait_for_levels(&onboarded.client, &onboarded.app.base, city, &ids).await;
    for ((id, record, free, total), level) in levels.iter().zip(api) {
        assert_eq!(
            level,
            ((*free).into(), (*total).into()),
            "{id} (Aachen {record})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_onboarding_page_connects_aachen_over_kafka() {
    let blocks = blocks(PAGE);
    let _broker = ensure_broker();
    let onboarded = onboard(&blocks, "").await;

    // 4. Send the status document the page names to the page's topic (this run's copy).
    let produce: Vec<&str> = block(&blocks, "onboarding:produce")
        .split_whitespace()
        .collect();
    let page_topic = produce
        .iter()
        .position(|w| *w == "-t")
        .and_then(|at| produce.get(at + 1))
        .expect("kcat -t <topic>");
    assert_eq!(
        format!("{page_topic}-{}", onboarded.run),
        onboarded.topic,
        "the page produces to its feed"
    );
    let document_name = produce.last().expect("the document");
    let document =
        std::fs::read(onboarded.dir.path().join(document_name)).expect("the status document");
    produce_document(&onboarded.topic, &document).await;

    check_levels(&blocks, &onboarded).await;
    assert!(onboarded.app.terminate().success());
}

/// Words of a shell command: quotes group, `\` + newline continues the line.
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut has_word = false;
    for c in command.replace("\\\n", " ").chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                has_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if has_word {
                    words.push(std::mem::take(&mut word));
                    has_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                has_word = true;
            }
        }
    }
    if has_word {
        words.push(word);
    }
    words
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_onboarding_page_connects_aachen_through_the_push_gateway() {
    let blocks = blocks(PAGE);
    let _broker = ensure_broker();
    // The page's push key with this test's key hashed in, as the page says.
    let key = format!("onboarding-{}", run_id());
    let hash = run_in(Path::new("."), &["key".into(), "hash".into(), key.clone()]);
    let push_key =
        block(&blocks, "onboarding:push-key").replace("\"…\"", &format!("\"{}\"", hash.trim()));
    assert_ne!(
        push_key,
        block(&blocks, "onboarding:push-key"),
        "key_sha256 = \"…\""
    );
    let onboarded = onboard(&blocks, &format!("\n{push_key}")).await;

    // 4. The page's curl: its method, path, headers and body file, this test's key.
    let words = shell_words(block(&blocks, "onboarding:push"));
    assert_eq!(words[..3], ["curl", "-X", "POST"], "{words:?}");
    let url = words.iter().find(|w| w.starts_with("http")).expect("URL");
    let path = url.splitn(4, '/').nth(3).expect("a path");
    let mut request = onboarded
        .client
        .post(format!("{}/{path}", onboarded.app.base));
    for (at, word) in words.iter().enumerate() {
        match word.as_str() {
            "-H" => {
                let header = words[at + 1].replace("$PUSH_KEY", &key);
                let (name, value) = header.split_once(':').expect("a header");
                request = request.header(name.trim(), value.trim());
            }
            "--data-binary" => {
                let file = words[at + 1].trim_start_matches('@');
                let body = std::fs::read(onboarded.dir.path().join(file)).expect("the body");
                request = request.body(body);
            }
            _ => {}
        }
    }
    let response = request.send().await.expect("push");
    let status = response.status().as_u16();
    let answer = response.text().await.unwrap_or_default();
    assert_eq!(status, 202, "{answer}");

    check_levels(&blocks, &onboarded).await;
    assert!(onboarded.app.terminate().success());
}
