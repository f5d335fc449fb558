//! Expected outputs below were produced by promtool 2.42 (`promtool test rules` on a rule whose
//! annotations hold these templates, series `{instance="host:9100",job="node",path="/var/log"}`).

use super::*;

fn data(value: f64) -> Data {
    let labels = [
        ("instance", "host:9100"),
        ("job", "node"),
        ("path", "/var/log"),
    ];
    Data {
        labels: Arc::new(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        external_labels: Arc::new([("cluster".to_string(), "eu1".to_string())].into()),
        external_url: String::new(),
        value,
        inputs: Arc::default(),
    }
}

fn x(t: &str, v: f64) -> String {
    Template::parse("__alert_T", t).unwrap().expand(&data(v))
}

const PROMTOOL: &[(f64, &str, &str)] = &[
    (1234567.0, "{{ $value }}", "1.234567e+06"),
    (1234567.0, "{{ humanize $value }}", "1.235M"),
    (1234567.0, "{{ humanize1024 $value }}", "1.177Mi"),
    (1234567.0, "{{ .Value }}", "1.234567e+06"),
    (0.0, "{{ $value }}|{{ humanize $value }}|{{ humanize1024 $value }}|{{ humanizeDuration $value }}|{{ humanizePercentage $value }}|{{ humanizeTimestamp $value }}",
        "0|0|0|0s|0%|1970-01-01 00:00:00 +0000 UTC"),
    (0.000123, "{{ $value }}|{{ humanize $value }}|{{ humanizeDuration $value }}|{{ humanizePercentage $value }}|{{ humanize1024 $value }}",
        "0.000123|123u|123us|0.0123%|0.000123"),
    (-1234.5, "{{ $value }}|{{ humanize $value }}|{{ humanizeDuration $value }}|{{ humanize1024 $value }}",
        "-1234.5|-1.234k|-20m 34s|-1.206ki"),
    (1234.5, "{{ humanize $value }}|{{ printf \"%.0f\" $value }}|{{ printf \"%.2e\" $value }}|{{ printf \"%g\" $value }}|{{ printf \"%8.1f|%-8.1f|%08.1f\" $value $value $value }}",
        "1.234k|1234|1.23e+03|1234.5|  1234.5|1234.5  |001234.5"),
    (0.125, "{{ printf \"%.2f\" $value }}|{{ printf \"%.1f\" 0.25 }}|{{ printf \"%.0f\" 2.5 }}|{{ printf \"%.3g\" $value }}",
        "0.12|0.2|2|0.125"),
    (100000.0, "{{ $value }}|{{ humanize $value }}|{{ printf \"%.4g\" $value }}", "100000|100k|1e+05"),
    (1000000.0, "{{ $value }}|{{ humanize $value }}|{{ humanize1024 $value }}", "1e+06|1M|976.6ki"),
    (1e21, "{{ $value }}|{{ humanize $value }}", "1e+21|1Z"),
    // These are the doubles …031.25 and …189.125: an exact tie between two shortest digit
    // strings, which Go breaks to the even one.
    (-794854348598031.2, "{{ $value }}|{{ printf \"%v\" $value }}", "-7.948543485980312e+14|-7.948543485980312e+14"),
    (227128182372189.12, "{{ $value }}", "2.2712818237218912e+14"),
    (1e-7, "{{ $value }}|{{ humanize $value }}|{{ humanizeDuration $value }}", "1e-07|100n|100ns"),
    (183661.7, "{{ humanizeDuration $value }}|{{ $value }}", "2d 3h 1m 1s|183661.7"),
    (3661.0, "{{ humanizeDuration $value }}", "1h 1m 1s"),
    (90.0, "{{ humanizeDuration $value }}", "1m 30s"),
    (59.9999, "{{ humanizeDuration $value }}", "60s"),
    (-90.0, "{{ humanizeDuration $value }}", "-1m 30s"),
    (0.5, "{{ humanizeDuration $value }}|{{ humanizePercentage $value }}", "500ms|50%"),
    (1.5, "{{ humanizeDuration $value }}|{{ humanize $value }}", "1.5s|1.5"),
    (1679000000.123, "{{ humanizeTimestamp $value }}", "2023-03-16 20:53:20.122 +0000 UTC"),
    (1679000000.0, "{{ humanizeTimestamp $value }}", "2023-03-16 20:53:20 +0000 UTC"),
    // Go's int64() of an out-of-range float is the minimum: huge durations come out negative.
    (1.8636746076011512e20, "{{ humanizeDuration $value }}", "-106751991167300d -15h -30m -8s"),
    (-6.455774821228346e23, "{{ humanizeDuration $value }}", "--106751991167300d -15h -30m -8s"),
    // Just below 2^63 ns: still a time (wrapping into 1677 as Go's time package does).
    (9.21e9, "{{ humanizeTimestamp $value }}", "2261-11-08 05:20:00 +0000 UTC"),
    (9.223372036854776e9, "{{ humanizeTimestamp $value }}", "1677-09-21 00:12:43.146 +0000 UTC"),
    (f64::NAN, "{{ $value }}|{{ humanize $value }}|{{ humanizeDuration $value }}|{{ humanizePercentage $value }}|{{ humanizeTimestamp $value }}",
        "NaN|NaN|NaN|NaN%|NaN"),
    (f64::INFINITY, "{{ $value }}|{{ humanize $value }}|{{ humanize1024 $value }}", "+Inf|+Inf|+Inf"),
    (f64::NEG_INFINITY, "{{ $value }}|{{ humanize $value }}", "-Inf|-Inf"),
    // Go's fmtFloat: no zero padding for Inf/NaN, ` ` replaces the plus sign (promtool 2.42).
    (f64::INFINITY, "{{ printf \"[%08.3f][%+f][% f][%+08.2f][%-8f][%8e][%+g][% 06g][%07v]\" $value $value $value $value $value $value $value $value $value }}",
        "[    +Inf][+Inf][ Inf][    +Inf][+Inf    ][    +Inf][+Inf][   Inf][   +Inf]"),
    (f64::NEG_INFINITY, "{{ printf \"[%08.3f][%+f][% f][%+08.2f][%-8f][%8e][%+g][% 06g][%07v]\" $value $value $value $value $value $value $value $value $value }}",
        "[    -Inf][-Inf][-Inf][    -Inf][-Inf    ][    -Inf][-Inf][  -Inf][   -Inf]"),
    (f64::NAN, "{{ printf \"[%08.3f][%+f][% f][%+08.2f][%-8f][%8e][%+g][% 06g][%07v]\" $value $value $value $value $value $value $value $value $value }}",
        "[     NaN][+NaN][ NaN][    +NaN][NaN     ][     NaN][+NaN][   NaN][    NaN]"),
    (-2.5, "{{ printf \"[%08.3f][%+f][% f][%+08.2f][%-8f][%8e][%+g][% 06g][%07v]\" $value $value $value $value $value $value $value $value $value }}",
        "[-002.500][-2.500000][-2.500000][-0002.50][-2.500000][-2.500000e+00][-2.5][-002.5][-0002.5]"),
    (2.5, "{{ printf \"[% 06g][% f][%+.1e]\" $value $value $value }}", "[ 002.5][ 2.500000][+2.5e+00]"),
    (1.0, "{{ $labels.instance }}|{{ .Labels.job }}|{{ $labels.missing }}|{{ $labels.__name__ }}",
        "host:9100|node||"),
    (1.0, "{{ toUpper $labels.job }}|{{ $labels.job | toUpper }}|{{ toLower \"ABC\" }}|{{ title \"hello wor-ld don't x_y 1a\" }}",
        "NODE|NODE|abc|Hello Wor-Ld Don'T X_y 1a"),
    (1.0, "{{ reReplaceAll \":.*\" \"\" $labels.instance }}|{{ reReplaceAll \"(h)(o)\" \"$2$1x\" \"hoho\" }}|{{ reReplaceAll \"(h)\" \"$1x\" \"ha\" }}|{{ reReplaceAll \"(h)\" \"${1}x\" \"ha\" }}",
        "host|oo|a|hxa"),
    (85.567, "{{ if gt $value 80.0 }}high{{ else }}low{{ end }}|{{ if lt $value 80.0 }}low{{ else if gt $value 85.0 }}vhigh{{ else }}mid{{ end }}|{{ if eq $labels.job \"node\" }}N{{ end }}|{{ if ne $labels.job \"x\" }}X{{ end }}|{{ if ge $value 85.567 }}ge{{end}}|{{ if le 1 2 }}le{{end}}",
        "high|vhigh|N|X|ge|le"),
    (1.0, "a  {{- \" b \" -}}  c|{{- 1 -}} \n x", "a b c|1x"),
    (1.0, "{{ with $labels.instance }}[{{ . }}]{{ else }}none{{ end }}|{{ with $labels.nope }}[{{ . }}]{{ else }}none{{ end }}",
        "[host:9100]|none"),
    (1.0, "{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}", "instance=host:9100,job=node,path=/var/log,"),
    (1.0, "{{ $x := printf \"%.1f\" $value }}{{ $x }}|{{ len $labels }}|{{ index $labels \"job\" }}|{{ not true }}|{{ and 1 0 }}|{{ or 0 \"\" \"z\" }}|{{ print 1 2 \"a\" 3 }}",
        "1.0|3|node|false|0|z|1 2a3"),
    (1.0, "{{ printf \"%d\" $value }}|{{ printf \"%s\" $value }}|{{ printf \"%v %v\" 1 }}|{{ printf \"%q\" $labels.job }}|{{ printf \"%5.1f%%\" 12.345 }}",
        "%!d(float64=1)|%!s(float64=1)|1 %!v(MISSING)|\"node\"| 12.3%"),
    (1.0, "{{ stripPort $labels.instance }}|{{ match \"^host\" $labels.instance }}|{{ humanizePercentage 0.1234 }}", "host|true|12.34%"),
    (1.0, "{{/* comment */}}x{{- /* c2 */ -}} y", "xy"),
    (0.1234, "{{ humanizePercentage $value }}|{{ humanizePercentage 0.5 }}|{{ humanizePercentage 1.23456 }}", "12.34%|50%|123.5%"),
    (12345678901.0, "{{ $value }}|{{ humanize $value }}|{{ humanize1024 $value }}|{{ humanizeDuration $value }}",
        "1.2345678901e+10|12.35G|11.5Gi|142889d 19h 15m 1s"),
    (0.30000000000000004, "{{ $value }}", "0.30000000000000004"),
    (123456.0, "{{ $value }}|{{ printf \"%v\" $value }}|{{ printf \"%e\" $value }}|{{ printf \"%f\" $value }}",
        "123456|123456|1.234560e+05|123456.000000"),
    (1.0, "{{ $labels }}", "map[instance:host:9100 job:node path:/var/log]"),
    (1.0, "{{ humanize \"1234\" }}", "1.234k"),
    // Go's gt is !le and ge is !lt: with NaN both are true, lt/le/eq false, ne true.
    (f64::NAN, "{{ if gt $value 1.0 }}gt{{ end }}|{{ if ge $value 1.0 }}ge{{ end }}|{{ if lt $value 1.0 }}lt{{ end }}|{{ if le $value 1.0 }}le{{ end }}|{{ if eq $value 1.0 }}eq{{ end }}|{{ if ne $value 1.0 }}ne{{ end }}",
        "gt|ge||||ne"),
];

#[test]
fn matches_promtool() {
    for (v, t, want) in PROMTOOL {
        assert_eq!(&x(t, *v), want, "template {t:?} with value {v}");
    }
}

#[test]
fn external_labels_and_url() {
    let mut d = data(1.0);
    d.external_url = "http://tt:9100".into();
    let t = Template::parse("__alert_T", "{{ $externalLabels.cluster }} {{ .ExternalLabels.cluster }} {{ $externalURL }} {{ externalURL }}").unwrap();
    assert_eq!(t.expand(&d), "eu1 eu1 http://tt:9100 http://tt:9100");
}

#[test]
fn execution_errors_read_like_prometheus() {
    let e = x("{{ humanizeTimestamp $value }}", -9.3e9);
    assert!(
        e.ends_with("error calling humanizeTimestamp: -9.3e+09 cannot be represented as a nanoseconds timestamp since it overflows int64>"),
        "{e}"
    );
    // promtool: `... at <gt $value 80>: error calling gt: incompatible types for comparison>`
    let e = x("{{ if gt $value 80 }}high{{ end }}", 85.0);
    assert!(e.starts_with("<error expanding template: error executing template __alert_T: template: __alert_T: executing \"__alert_T\" at <gt>: error calling gt: incompatible types for comparison"), "{e}");
    let e = x("{{ humanize \"abc\" }}", 1.0);
    assert!(
        e.ends_with("error calling humanize: strconv.ParseFloat: parsing \"abc\": invalid syntax>"),
        "{e}"
    );
    let e = x("{{ toUpper $value }}", 1.0);
    assert!(
        e.ends_with("wrong type for value; expected string; got float64>"),
        "{e}"
    );
    let e = x("{{ reReplaceAll \"(\" \"\" \"x\" }}", 1.0);
    assert!(
        e.contains("error calling reReplaceAll: regexp: Compile"),
        "{e}"
    );
    // Prometheus' floatToTime bound and message (position and node text are not reproduced).
    let e = x("{{ humanizeTimestamp $value }}", -70330089472.0);
    assert!(e.ends_with("error calling humanizeTimestamp: -7.0330089472e+10 cannot be represented as a nanoseconds timestamp since it overflows int64>"), "{e}");
    assert_eq!(
        x("{{ humanizeTimestamp $value }}", 9.2e9),
        "2261-07-15 11:33:20 +0000 UTC"
    );
    let e = x("{{ .Nope }}", 1.0);
    assert!(e.contains("can't evaluate field Nope"), "{e}");
}

#[test]
fn parse_errors_are_load_time_errors() {
    let err = |t: &str| Template::parse("__alert_T", t).unwrap_err();
    assert_eq!(
        err("{{ foo 1 }}"),
        "error parsing template __alert_T: template: __alert_T:1: function \"foo\" not defined"
    );
    assert!(
        err("a\n{{ query \"up\" }}").contains("__alert_T:2: function \"query\" is not supported")
    );
    assert!(err("{{ $nope }}").contains("undefined variable \"$nope\""));
    assert!(err("{{ if true }}x").contains("unexpected EOF"));
    assert!(err("{{ end }}").contains("unexpected {{end}}"));
    assert!(err("{{ \"abc }}").contains("unterminated quoted string"));
    assert!(err("{{ 1 2 }}").contains("non-function"));
    assert!(err("{{ template \"x\" }}").contains("not supported"));
    assert!(err("{{ $labels.job").contains("unclosed action"));
    // Found by fuzzing: a non-ASCII character that is not a letter looped the lexer forever.
    assert!(err("{{ € }}").contains("unexpected '€' in command"));
    assert!(err("{{\u{fffd}$inputs.x }}").contains("unexpected"));
    assert!(err("{{ é }}").contains("function \"é\" not defined"));
}

#[test]
fn variables_scope_and_assignment() {
    assert_eq!(
        x(
            "{{ $a := 1 }}{{ if true }}{{ $a = 2 }}{{ end }}{{ $a }}",
            0.0
        ),
        "2"
    );
    assert_eq!(
        x("{{ if $v := $labels.job }}{{ $v }}{{ end }}", 0.0),
        "node"
    );
    assert!(Template::parse("t", "{{ if true }}{{ $b := 1 }}{{ end }}{{ $b }}").is_err());
    assert_eq!(
        x("{{ range $labels }}{{ . }};{{ else }}empty{{ end }}", 0.0),
        "host:9100;node;/var/log;"
    );
    assert_eq!(x("{{ printf \"%s!\" (humanize1024 2048) }}|{{ humanize 1500 | toUpper }}|{{ printf \"%.1f\" 3 }}", 0.0), "2ki!|1.5K|%!f(int=3)");
}

#[test]
fn inputs_are_a_float_map() {
    let mut d = data(0.75);
    d.inputs = Arc::new([("cpu".to_string(), 4.5), ("err".to_string(), 0.75)].into());
    let x = |t: &str| Template::parse("__alert_T", t).unwrap().expand(&d);
    assert_eq!(x("{{ $inputs.err }} {{ .Inputs.cpu }}"), "0.75 4.5");
    assert_eq!(x("{{ $inputs.nope }}"), "0");
    assert_eq!(x("{{ $inputs.cpu | humanize }}"), "4.5");
    assert_eq!(x("{{ printf \"%.1f\" $inputs.err }}"), "0.8");
    assert_eq!(x("{{ if gt $inputs.cpu 4.0 }}high{{ end }}"), "high");
    assert_eq!(x("{{ index $inputs \"err\" }}"), "0.75");
    assert_eq!(
        x("{{ range $k, $v := $inputs }}{{ $k }}={{ $v }};{{ end }}"),
        "cpu=4.5;err=0.75;"
    );
    assert_eq!(
        x("{{ $inputs }} {{ len $inputs }}"),
        "map[cpu:4.5 err:0.75] 2"
    );
    // An `expr` rule has no inputs: the map is empty.
    assert_eq!(
        Template::parse("t", "{{ len $inputs }}")
            .unwrap()
            .expand(&data(1.0)),
        "0"
    );
}

#[test]
fn json_writes_values_as_json() {
    let t = r#"{{ "a\", \"b" | json }}|{{ $value | json }}|{{ 3 | json }}|{{ true | json }}|{{ $labels | json }}|{{ .Labels.job | json }}|{{ $labels.nosuch | json }}"#;
    assert_eq!(
        x(t, 1.5),
        r#""a\", \"b"|1.5|3|true|{"instance":"host:9100","job":"node","path":"/var/log"}|"node"|"""#
    );
    assert_eq!(x("{{ $value | json }}", f64::NAN), r#""NaN""#);
    assert_eq!(x("{{ $value | json }}", f64::INFINITY), r#""+Inf""#);
    let e = Template::parse("__alert_T", "{{ json }}").unwrap();
    assert!(e
        .expand(&data(1.0))
        .contains("wrong number of args for json"));
}
