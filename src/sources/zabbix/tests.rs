//! Unit tests of the Zabbix source's pure parts: config decoding, item.get parameters and the
//! conversion of a real Zabbix 6.0 item.get answer into families.

use super::config::decode;
use super::*;
use crate::config::common::Global;
use crate::config::yaml;
use crate::config::yaml::Decoder;
use crate::model::Sample;

fn decode_text(text: &str) -> (Vec<ZabbixConfig>, Vec<String>) {
    let root = yaml::parse("z.yml", text).unwrap();
    let mut d = Decoder::new("z.yml");
    let cfgs = decode(&mut d, &root, "zabbix", &Global::default());
    (cfgs, d.diags.iter().map(|x| x.to_string()).collect())
}

fn config(extra: &str) -> ZabbixConfig {
    let (mut c, errs) = decode_text(&format!(
        "- name: main\n  url: http://127.0.0.1:1/api_jsonrpc.php\n  username: Admin\n  password: zabbix\n{extra}"
    ));
    assert!(errs.is_empty(), "{errs:?}");
    c.remove(0)
}

fn recorded_items() -> Vec<Item> {
    let p = format!(
        "{}/tests/fixtures/zabbix-client/item_get.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(p).unwrap();
    super::api::decode_response_as::<Vec<Item>>(&body)
        .unwrap()
        .unwrap()
}

/// "Now" for the recording: ten seconds after its newest value.
fn recorded_now(items: &[Item]) -> i64 {
    items
        .iter()
        .filter_map(|i| i.lastclock.parse::<i64>().ok())
        .max()
        .unwrap()
        + 10
}

fn sample<'a>(f: &'a Family, key: &str) -> Option<&'a Sample> {
    f.samples
        .iter()
        .find(|s| s.labels.iter().any(|(k, v)| k == "key" && v == key))
}

fn label<'a>(s: &'a Sample, name: &str) -> &'a str {
    s.labels
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v)
}

#[test]
fn defaults_and_full_config() {
    let c = config("");
    assert_eq!(c.interval, Duration::from_secs(15));
    assert_eq!(c.http.timeout, Duration::from_secs(10));
    assert_eq!(c.max_age, Duration::from_secs(3600));
    assert_eq!(c.chunk_size, 500);
    assert_eq!(c.http.body_size_limit, 64 << 20);
    assert!(!c.text_items_as_info);
    let c = config(
        "  interval: 1m\n  timeout: 20s\n  hosts: [Zabbix server]\n  host_groups: [Linux servers]\n  tags: [{name: component, value: cpu}, {name: class}]\n  key_patterns: ['system\\.cpu\\..*', agent.ping]\n  text_items_as_info: true\n  max_age: 2h\n  chunk_size: 50\n  body_size_limit: 1MiB\n",
    );
    assert_eq!(c.interval, Duration::from_secs(60));
    assert_eq!(c.http.timeout, Duration::from_secs(20));
    assert_eq!(c.hosts, vec!["Zabbix server"]);
    assert_eq!(c.host_groups, vec!["Linux servers"]);
    assert_eq!(c.tags[1].value, None);
    assert!(c.key_patterns.accepts("system.cpu.load[all,avg1]"));
    assert!(c.key_patterns.accepts("agent.ping"));
    assert!(
        !c.key_patterns.accepts("xagent.ping"),
        "patterns are anchored"
    );
    assert!(c.text_items_as_info);
    assert_eq!(c.max_age, Duration::from_secs(7200));
    assert_eq!(c.chunk_size, 50);
    assert_eq!(c.http.body_size_limit, 1 << 20);
}

#[test]
fn credentials_are_exactly_one_way() {
    let base = "- name: a\n  url: http://z/api_jsonrpc.php\n";
    let cases = [
        (
            "",
            "give either username and password[_file] or api_token[_file]",
        ),
        (
            "  username: u\n",
            "username needs password or password_file",
        ),
        ("  password: p\n", "password needs username"),
        ("  username: u\n  password: p\n  api_token: t\n", "not both"),
    ];
    for (extra, want) in cases {
        let (_, errs) = decode_text(&format!("{base}{extra}"));
        assert!(
            errs.len() == 1 && errs[0].contains(want),
            "{extra:?}: {errs:?}"
        );
    }
    let (c, errs) = decode_text(&format!("{base}  api_token: abc\n"));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(c[0].credentials, Credentials::Token("abc".into()));
}

#[test]
fn invalid_entries_are_reported_with_positions() {
    let (_, errs) = decode_text(
        "- name: a\n  url: ftp://z\n  api_token: t\n  interval: 5s\n  timeout: 10s\n  key_patterns: ['[']\n  chunk_size: 0\n  bearer_token: x\n  tags: [{value: v}]\n  bogus: 1\n- name: a\n  url: http://z/\n  api_token: t\n",
    );
    let want = [
        "z.yml:2:8: zabbix[0].url: not an http(s) URL: \"ftp://z\" (e.g. http://zabbix/api_jsonrpc.php)",
        "z.yml:5:12: zabbix[0].timeout: timeout (10s) greater than interval (5s)",
        "z.yml:8:17: zabbix[0].bearer_token: use api_token for a Zabbix API token (the client picks header or body by version)",
        "z.yml:9:11: zabbix[0].tags[0]: a tag needs a name",
        "z.yml:6:18: zabbix[0].key_patterns[0]: invalid regex \"[\": unclosed character class",
        "z.yml:7:15: zabbix[0].chunk_size: must be greater than 0",
        "z.yml:10:3: zabbix[0]: unknown field \"bogus\" in zabbix",
        "z.yml:11:9: zabbix[1]: duplicate zabbix name \"a\"",
    ];
    assert_eq!(errs, want);
}

#[test]
fn item_params_select_monitored_items_and_tags() {
    let p = item_params(&config(""));
    assert_eq!(p["output"], json!(ITEM_FIELDS));
    assert_eq!(p["selectHosts"], json!(["host", "name"]));
    assert_eq!(p["monitored"], json!(true));
    assert!(p.get("tags").is_none());
    let p = item_params(&config(
        "  tags: [{name: component, value: cpu}, {name: class}]\n",
    ));
    assert_eq!(
        p["tags"],
        json!([{"tag": "component", "value": "cpu", "operator": 1}, {"tag": "class", "operator": 4}])
    );
    assert_eq!(p["evaltype"], json!(0));
}

#[test]
fn recorded_items_become_samples() {
    let items = recorded_items();
    let now = recorded_now(&items);
    let (fams, count) = convert(&config(""), &items, now);
    let (values, clocks, infos) = (&fams[0], &fams[1], &fams[2]);
    assert_eq!(values.name, "zabbix_item_value");
    // 72 numeric items have a value and are supported; text items are off by default.
    assert_eq!(count, 72);
    assert_eq!(values.samples.len(), 72);
    assert_eq!(clocks.samples.len(), 72);
    assert!(infos.samples.is_empty());
    let load = sample(values, "system.cpu.load[all,avg1]").expect("load average exported");
    assert_eq!(load.value, 2.327148);
    assert_eq!(load.timestamp_ms, Some(1_795_606_449_000));
    assert_eq!(label(load, "host"), "Zabbix server");
    assert_eq!(label(load, "zabbix"), "main");
    assert_eq!(label(load, "name"), "Load average (1m avg)");
    assert_eq!(label(load, "units"), "");
    let names: Vec<&str> = load.labels.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["zabbix", "host", "key", "name", "units"]);
    let ping = sample(values, "agent.ping").unwrap();
    assert_eq!(ping.value, 1.0);
    assert_eq!(sample(clocks, "agent.ping").unwrap().value, 1_795_606_447.0);
    // Never polled (lastclock "0") and unsupported (state 1) items are left out.
    for it in &items {
        if it.lastclock == "0" || it.state == "1" {
            assert!(sample(values, &it.key_).is_none(), "{}", it.key_);
        }
    }
    assert!(
        items.iter().any(|i| i.state == "1"),
        "fixture has unsupported items"
    );
    assert!(
        items.iter().any(|i| i.state == "0" && i.lastclock == "0"),
        "and never polled ones"
    );
}

#[test]
fn text_items_become_info_when_asked() {
    let items = recorded_items();
    let now = recorded_now(&items);
    let (fams, count) = convert(&config("  text_items_as_info: true\n"), &items, now);
    let infos = &fams[2];
    assert_eq!(count, 72 + infos.samples.len());
    let uname = sample(infos, "system.uname").expect("system.uname as info");
    assert_eq!(uname.value, 1.0);
    assert!(label(uname, "value").starts_with("Linux "));
    assert!(uname.labels.iter().all(|(k, _)| k != "units"));
}

#[test]
fn old_values_and_unmatched_keys_are_dropped() {
    let items = recorded_items();
    let now = recorded_now(&items);
    // An hour later the same values are too old for a 30 minute max_age.
    let (_, count) = convert(&config("  max_age: 30m\n"), &items, now + 3600);
    assert_eq!(count, 0);
    let (fams, count) = convert(
        &config("  key_patterns: ['system\\.cpu\\.load\\[.*', agent.ping]\n"),
        &items,
        now,
    );
    assert_eq!(count, 4);
    let mut keys: Vec<&str> = fams[0].samples.iter().map(|s| label(s, "key")).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "agent.ping",
            "system.cpu.load[all,avg15]",
            "system.cpu.load[all,avg1]",
            "system.cpu.load[all,avg5]"
        ]
    );
}

#[test]
fn bad_values_and_long_text_are_handled() {
    let it = |vt: &str, v: &str| Item {
        itemid: "1".into(),
        hostid: "10084".into(),
        name: "n".into(),
        key_: format!("k{vt}"),
        value_type: vt.into(),
        lastvalue: v.into(),
        lastclock: "1000".into(),
        state: "0".into(),
        status: "0".into(),
        ..Item::default()
    };
    let long = "x".repeat(1000);
    let items = [
        it("0", "not a number"),
        it("3", "18446744073709551615"),
        it("4", &long),
        it("5", "AAAA"),
    ];
    let (fams, count) = convert(&config("  text_items_as_info: true\n"), &items, 1010);
    assert_eq!(count, 2);
    let big = sample(&fams[0], "k3").unwrap();
    assert_eq!(big.value, 18446744073709551615.0);
    assert_eq!(
        label(big, "host"),
        "10084",
        "host id when selectHosts is missing"
    );
    assert_eq!(label(sample(&fams[2], "k4").unwrap(), "value").len(), 256);
}

#[test]
fn host_and_group_answers_decode() {
    let read = |n: &str| {
        let p = format!(
            "{}/tests/fixtures/zabbix-client/{n}",
            env!("CARGO_MANIFEST_DIR")
        );
        super::api::decode_response(&std::fs::read(p).unwrap())
            .unwrap()
            .unwrap()
    };
    assert_eq!(
        parse_field(&read("host_get.json"), "hostid").unwrap(),
        ["10084"]
    );
    assert_eq!(
        parse_field(&read("hostgroup_get.json"), "groupid").unwrap(),
        ["4"]
    );
    assert_eq!(
        parse_field(&json!("x"), "hostid").unwrap_err().reason,
        Reason::Decode
    );
    let not_items = br#"{"jsonrpc":"2.0","result":{"a":1},"id":3}"#;
    let f = super::api::decode_response_as::<Vec<Item>>(not_items).unwrap_err();
    assert_eq!(f.reason, Reason::Decode);
    assert!(f.msg.starts_with("unexpected result: "), "{}", f.msg);
}

#[test]
fn backoff_doubles_up_to_five_minutes() {
    let s = Duration::from_secs;
    assert_eq!(backoff(s(30), 1), s(30));
    assert_eq!(backoff(s(30), 2), s(60));
    assert_eq!(backoff(s(30), 4), s(240));
    assert_eq!(backoff(s(30), 5), s(300));
    assert_eq!(backoff(s(30), 50), s(300));
    assert_eq!(
        backoff(s(600), 3),
        s(600),
        "never shorter than the interval"
    );
}
