<?php
// Small Zabbix 6.0 JSON-RPC client for the test peer scripts (PHP because the frontend packages
// guarantee php-cli on the machine; no curl or python needed).
//
//   php zabbix-rpc.php version   URL                          print apiinfo.version
//   php zabbix-rpc.php configure URL HOST AGENT_PORT DELAY    point HOST's agent interface at
//                                                             127.0.0.1:AGENT_PORT, set DELAY on its items
//   php zabbix-rpc.php wait      URL HOST MIN TIMEOUT         wait until MIN numeric items of HOST have values
//   php zabbix-rpc.php record    URL OUTDIR                   capture the unit-test fixtures
//
// Logs in as Admin/zabbix. Bad-credential tests must use a user name that does not exist: five
// failed logins lock the account for 30 s, and a locked Admin would break every other test.

const ADMIN_USER = 'Admin';
const ADMIN_PASSWORD = 'zabbix';
const FAKE_SESSION = '0123456789abcdef0123456789abcdef';   // replaces real session ids in fixtures
const MADE_UP_SESSION = 'deadbeefdeadbeefdeadbeefdeadbeef'; // never issued by the server
const BOGUS_USER = 'telltale-no-such-user';

final class RpcError extends RuntimeException {}

$request_id = 0;

/** POST $body to $url; returns [status, headers, body] (status 0 when nothing answered). */
function http_post(string $url, string $body, string $content_type = 'application/json-rpc'): array {
    $ctx = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => "Content-Type: $content_type\r\nAccept: application/json\r\n",
        'content' => $body,
        'ignore_errors' => true,
        'timeout' => 20,
    ]]);
    $resp = @file_get_contents($url, false, $ctx);
    if ($resp === false) {
        return [0, [], ''];
    }
    $headers = $http_response_header ?? [];
    $status = preg_match('#^HTTP/\S+\s+(\d+)#', $headers[0] ?? '', $m) ? (int) $m[1] : 0;
    return [$status, $headers, $resp];
}

function request_body(string $method, $params, ?string $auth = null): string {
    global $request_id;
    // An empty PHP array would be encoded as [], send {} (the server takes both).
    $req = ['jsonrpc' => '2.0', 'method' => $method, 'params' => $params === [] ? new stdClass() : $params];
    if ($auth !== null) {
        $req['auth'] = $auth;
    }
    $req['id'] = ++$request_id;
    return json_encode($req, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
}

/** One JSON-RPC call; returns [request body, raw response body, decoded response]. */
function rpc_raw(string $url, string $method, $params, ?string $auth = null): array {
    $body = request_body($method, $params, $auth);
    [$status, , $resp] = http_post($url, $body);
    if ($status !== 200) {
        throw new RpcError("$method: HTTP " . ($status ?: 'no answer'));
    }
    $decoded = json_decode($resp, true);
    if (!is_array($decoded)) {
        throw new RpcError("$method: not JSON: " . substr($resp, 0, 200));
    }
    return [$body, $resp, $decoded];
}

/** One JSON-RPC call; returns its result or throws RpcError with the server's error. */
function rpc(string $url, string $method, $params, ?string $auth = null) {
    [, , $d] = rpc_raw($url, $method, $params, $auth);
    if (isset($d['error'])) {
        $e = $d['error'];
        throw new RpcError("$method: {$e['code']} {$e['message']} {$e['data']}");
    }
    return $d['result'];
}

function login(string $url): string {
    return rpc($url, 'user.login', ['username' => ADMIN_USER, 'password' => ADMIN_PASSWORD]);
}

function say(string $msg): void {
    fwrite(STDOUT, '[zabbix ' . date('H:i:s') . "] $msg\n");
}

function find_host(string $url, string $auth, string $host): array {
    $hosts = rpc($url, 'host.get', [
        'output' => ['hostid', 'host', 'status'],
        'filter' => ['host' => [$host]],
        'selectInterfaces' => ['interfaceid', 'type', 'main', 'ip', 'dns', 'port', 'useip'],
    ], $auth);
    if (!$hosts) {
        throw new RpcError("no host \"$host\"");
    }
    return $hosts[0];
}

function cmd_configure(string $url, string $host, string $agent_port, string $delay): void {
    $auth = login($url);
    $h = find_host($url, $auth, $host);
    $hostid = $h['hostid'];
    if ($h['status'] !== '0') {
        rpc($url, 'host.update', ['hostid' => $hostid, 'status' => 0], $auth);
        say("host \"$host\" ($hostid) enabled");
    }
    $done = false;
    foreach ($h['interfaces'] as $if) {
        if ($if['type'] === '1' && $if['main'] === '1') {   // main Zabbix agent interface
            rpc($url, 'hostinterface.update', [
                'interfaceid' => $if['interfaceid'], 'useip' => 1, 'ip' => '127.0.0.1', 'dns' => '',
                'port' => $agent_port,
            ], $auth);
            $done = true;
        }
    }
    if (!$done) {
        rpc($url, 'hostinterface.create', [
            'hostid' => $hostid, 'type' => 1, 'main' => 1, 'useip' => 1, 'ip' => '127.0.0.1',
            'dns' => '', 'port' => $agent_port,
        ], $auth);
    }
    // Polled items only: dependent and trapper items have delay "0"; discovered items (flags 4)
    // cannot be edited.
    $items = rpc($url, 'item.get', [
        'output' => ['itemid', 'delay', 'flags'], 'hostids' => [$hostid],
    ], $auth);
    $updates = [];
    foreach ($items as $it) {
        if ($it['flags'] === '0' && $it['delay'] !== '0' && $it['delay'] !== $delay) {
            $updates[] = ['itemid' => $it['itemid'], 'delay' => $delay];
        }
    }
    $failed = 0;
    if ($updates) {
        try {
            rpc($url, 'item.update', $updates, $auth);
        } catch (RpcError $e) {          // one bad item fails the batch: retry one by one
            say('batch item.update failed (' . $e->getMessage() . '), updating one by one');
            foreach ($updates as $u) {
                try {
                    rpc($url, 'item.update', $u, $auth);
                } catch (RpcError $e) {
                    $failed++;
                }
            }
        }
    }
    rpc($url, 'user.logout', [], $auth);
    say(sprintf('host "%s" (%s): agent interface -> 127.0.0.1:%s; delay %s set on %d of %d items%s',
        $host, $hostid, $agent_port, $delay, count($updates) - $failed, count($items),
        $failed ? " ($failed refused)" : ''));
}

function cmd_wait(string $url, string $host, int $min, int $timeout): void {
    $start = microtime(true);
    $auth = null;
    $last = -1;
    $last_print = 0.0;
    while (true) {
        $t = microtime(true) - $start;
        try {
            $auth ??= login($url);
            $items = rpc($url, 'item.get', [
                'output' => ['itemid', 'value_type', 'lastclock'], 'host' => $host,
                'filter' => ['value_type' => [0, 3]],
            ], $auth);
            $with = count(array_filter($items, fn($i) => $i['lastclock'] !== '0'));
            if ($with !== $last || $t - $last_print >= 10) {
                say(sprintf('%5.1f s: %d of %d numeric items of "%s" have values (need %d)',
                    $t, $with, count($items), $host, $min));
                $last = $with;
                $last_print = $t;
            }
            if ($with >= $min) {
                rpc($url, 'user.logout', [], $auth);
                return;
            }
        } catch (RpcError $e) {
            say(sprintf('%5.1f s: %s', $t, $e->getMessage()));
            $auth = null;
        }
        if ($t > $timeout) {
            fwrite(STDERR, "timed out after {$timeout} s waiting for item values\n");
            exit(1);
        }
        usleep(1000000);
    }
}

/** Re-encode like the server did; refuses if that would not reproduce the server's bytes. */
function json_flags_like(string $raw): int {
    $v = json_decode($raw);   // objects stay objects, so {} survives
    foreach ([0, JSON_UNESCAPED_SLASHES, JSON_UNESCAPED_UNICODE,
              JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE] as $f) {
        if (json_encode($v, $f) === $raw) {
            return $f;
        }
    }
    throw new RpcError('cannot reproduce the server\'s JSON encoding');
}

/** Pick ~$n items: every not-supported item (up to 4), then round-robin over (value_type, has value). */
function pick_items(array $items, int $n): array {
    $picked = [];
    foreach ($items as $k => $it) {
        if ($it->state === '1' && count($picked) < 4) {
            $picked[$k] = true;
        }
    }
    $groups = [];
    foreach ($items as $k => $it) {
        $groups[$it->value_type . '/' . ($it->lastclock === '0' ? 'none' : 'value')][] = $k;
    }
    ksort($groups);
    while (count($picked) < $n && $groups) {
        foreach (array_keys($groups) as $g) {
            while ($groups[$g] && isset($picked[$groups[$g][0]])) {
                array_shift($groups[$g]);
            }
            if ($groups[$g] && count($picked) < $n) {
                $picked[array_shift($groups[$g])] = true;
            }
            if (!$groups[$g]) {
                unset($groups[$g]);
            }
        }
    }
    ksort($picked);
    return array_values(array_intersect_key($items, $picked));
}

function cmd_record(string $url, string $dir): void {
    @mkdir($dir, 0755, true);
    $put = function (string $name, string $data) use ($dir) {
        file_put_contents("$dir/$name", $data);
        say("wrote $dir/$name");
    };

    // apiinfo.version: no auth allowed.
    [$req, $resp] = rpc_raw($url, 'apiinfo.version', []);
    $put('apiinfo_version.request.json', $req);
    $put('apiinfo_version.json', $resp);

    // user.login: the session id is replaced by a fixed fake one everywhere.
    [$req, $resp, $d] = rpc_raw($url, 'user.login', ['username' => ADMIN_USER, 'password' => ADMIN_PASSWORD]);
    $session = $d['result'];
    $put('user_login.request.json', $req);
    $put('user_login.json', str_replace($session, FAKE_SESSION, $resp));

    // item.get for the host, trimmed to ~30 items with a mix of value types and states.
    $params = [
        'output' => ['itemid', 'hostid', 'name', 'key_', 'value_type', 'units', 'lastvalue',
                     'lastclock', 'state', 'status'],
        'selectHosts' => ['host', 'name'],
        'host' => 'Zabbix server',
        'sortfield' => 'itemid',
    ];
    // The mix changes by the second after a start (values arrive, "0" clocks go away): poll for
    // up to 30 s until one response holds every group wanted.
    $wanted = ['0/value', '0/none', '3/value', '3/none', '1/value', '4/value', 'unsupported'];
    for ($try = 0; ; $try++) {
        [$req, $resp, $d] = rpc_raw($url, 'item.get', $params, $session);
        if (isset($d['error'])) {
            throw new RpcError('item.get: ' . json_encode($d['error']));
        }
        $have = [];
        foreach ($d['result'] as $it) {
            $have[$it['value_type'] . '/' . ($it['lastclock'] === '0' ? 'none' : 'value')] = true;
            if ($it['state'] === '1') {
                $have['unsupported'] = true;
            }
        }
        $lacking = array_diff($wanted, array_keys($have));
        if (!$lacking || $try >= 60) {
            break;
        }
        usleep(500000);
    }
    if ($lacking) {
        say('item_get.json: no item in group(s) ' . implode(', ', $lacking) . ' (value_type/lastclock)');
    }
    $flags = json_flags_like($resp);
    $full = json_decode($resp);
    $all = $full->result;
    $full->result = pick_items($all, 30);
    $put('item_get.request.json', str_replace($session, FAKE_SESSION, $req));
    $put('item_get.json', str_replace($session, FAKE_SESSION, json_encode($full, $flags)));
    $stats = [];
    foreach ($full->result as $it) {
        $k = "value_type {$it->value_type}, " . ($it->lastclock === '0' ? 'lastclock 0' : 'with value')
            . ($it->state === '1' ? ', not supported' : '');
        $stats[$k] = ($stats[$k] ?? 0) + 1;
    }
    ksort($stats);
    say(sprintf('item_get.json: %d of %d items kept: %s', count($full->result), count($all),
        json_encode($stats)));

    // Errors (HTTP 200 with an "error" member).
    [$req, $resp] = rpc_raw($url, 'user.login', ['username' => BOGUS_USER, 'password' => 'wrong-password']);
    $put('error_wrong_password.request.json', $req);
    $put('error_wrong_password.json', $resp);

    [$req, $resp] = rpc_raw($url, 'item.get', $params, MADE_UP_SESSION);
    $put('error_session_terminated.request.json', $req);
    $put('error_session_terminated.json', $resp);

    [$req, $resp] = rpc_raw($url, 'item.get', $params);
    $put('error_not_authorized.request.json', $req);
    $put('error_not_authorized.json', $resp);

    [$req, $resp] = rpc_raw($url, 'apiinfo.version', [], $session);
    $put('error_apiinfo_with_auth.request.json', str_replace($session, FAKE_SESSION, $req));
    $put('error_apiinfo_with_auth.json', $resp);

    // Wrong Content-Type: HTTP 412, empty body.
    $req = request_body('apiinfo.version', []);
    [$status, $headers, $body] = http_post($url, $req, 'text/plain');
    $put('error_bad_content_type.request.json', $req);
    $headers = array_values(array_filter($headers, fn($h) => !preg_match('/^(Date|Host):/i', $h)));
    $put('error_bad_content_type.response.txt',
        "# POST with \"Content-Type: text/plain\": status line and headers (Date dropped), then the body\n"
        . implode("\n", $headers) . "\n\n" . $body);
    say("bad Content-Type: HTTP $status, body " . strlen($body) . ' bytes');

    rpc($url, 'user.logout', [], $session);
}

$args = array_slice($argv, 1);
try {
    switch ($args[0] ?? '') {
        case 'version':
            echo rpc($args[1], 'apiinfo.version', []), "\n";
            break;
        case 'configure':
            cmd_configure($args[1], $args[2], $args[3], $args[4]);
            break;
        case 'wait':
            cmd_wait($args[1], $args[2], (int) $args[3], (int) $args[4]);
            break;
        case 'record':
            cmd_record($args[1], $args[2]);
            break;
        default:
            fwrite(STDERR, "usage: zabbix-rpc.php version|configure|wait|record URL ...\n");
            exit(2);
    }
} catch (RpcError $e) {
    fwrite(STDERR, 'zabbix-rpc: ' . $e->getMessage() . "\n");
    exit(1);
}
