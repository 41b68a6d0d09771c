//! P7, customer-service routing: R concurrent `POST /v1/shops/{id}/chats` (distinct buyers, spread
//! round-robin) over S shops x A agents, against the same number of `POST /v1/chats` (a plain
//! buyer–seller chat: the same provider calls, `user/create` for the buyer and `friend/add`, minus
//! the routing transaction) at the same concurrency, in the same run, on SQLite or MariaDB.
//!
//! Set-up (not timed): S shops with A agents of capacity K each and fallback `owner`; every agent
//! logs in (a signed eventType-2 callback, as NetEase would post it) and is set `available`. Then,
//! after W unmeasured `POST /v1/chats` to warm the service: the baseline, then routing. Afterwards
//! the bench checks capacity from the HTTP side (per agent: `open_assignments` of
//! `GET /v1/shops/{id}/agents` and the open assignments of `GET …/assignments?status=open` agree
//! and are at most the capacity; no buyer has two open assignments in a shop; every routed chat's
//! assignment is open) and, once the service has stopped, with `RoutingStore::capacity_violations`
//! on the database itself.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::{Args, ValueEnum};
use imbridge::db::Sql;
use imbridge::routing::RoutingStore;
use serde_json::{json, Value};
use sqlx::Connection as _;

use crate::http1::Connection;
use crate::load::{self, Answer, LoadResult};
use crate::server::{self, ScratchDir, Server, ServerSpec};
use crate::stats::{ms, per_second, ratio, Latency, Table};
use crate::stores::redact;

const CALLBACK_PATH: &str = "/callbacks/netease";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqlKind {
    /// SQLite in the data directory (the service's default database).
    Sqlite,
    /// MySQL / MariaDB at `--mysql-url`, in a database of its own for this run.
    Mysql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FallbackArg {
    Owner,
    None,
}

impl FallbackArg {
    fn as_str(self) -> &'static str {
        match self {
            FallbackArg::Owner => "owner",
            FallbackArg::None => "none",
        }
    }
}

#[derive(Debug, Args)]
pub struct P7Args {
    #[arg(long, value_enum, default_value = "sqlite")]
    pub sql: SqlKind,
    /// The MySQL / MariaDB server of `--sql mysql` (any database in the URL is ignored): the run
    /// creates a database `imbridge_bench_<id>` there and drops it at the end.
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306")]
    pub mysql_url: String,
    #[arg(long, default_value_t = 20)]
    pub shops: usize,
    /// Agents per shop.
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    /// Open assignments each agent takes at most. With the defaults, 20 x 10 x 4 = 800 slots for
    /// 1 000 buyers: 200 chats go to the shop owners (fallback).
    #[arg(long, default_value_t = 4)]
    pub capacity: usize,
    /// The shops' `routing.fallback`: `owner` takes the chats no agent can, `none` answers them 409.
    #[arg(long, value_enum, default_value = "owner")]
    pub fallback: FallbackArg,
    /// Routed chats (distinct buyers), and as many baseline chats.
    #[arg(long, default_value_t = 1_000)]
    pub requests: usize,
    /// Connections (closed loop); with the defaults every request is in flight at once.
    #[arg(long, default_value_t = 1_000)]
    pub concurrency: usize,
    /// Unmeasured `POST /v1/chats` before the measured runs.
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    /// The service's client-side NetEase quota (`netease.rate_per_second`; NetEase's default is
    /// 100). At 100, 2 calls per chat cap both paths at 50 chats/s and the figure measures the
    /// quota; the default lifts it (the simulator enforces none) so the figure measures the service.
    #[arg(long, default_value_t = 100_000)]
    pub netease_rate: u32,
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
}

pub async fn run(args: P7Args) -> anyhow::Result<()> {
    ensure!(
        args.shops > 0 && args.agents > 0 && args.capacity > 0,
        "--shops, --agents and --capacity must be positive"
    );
    ensure!(args.requests > 0, "--requests must be positive");
    ensure!(
        args.shops <= 99 && args.agents <= 99,
        "at most 99 shops and 99 agents (the account names have two digits)"
    );
    let binary = server::server_binary(args.server_bin.as_deref())?;
    let slots = args.shops * args.agents * args.capacity;
    println!(
        "P7 routing: {} chats over {} shops x {} agents (capacity {}: {slots} slots, fallback {}), {} connections, {:?} SQL, netease.rate_per_second {}",
        args.requests, args.shops, args.agents, args.capacity, args.fallback.as_str(), args.concurrency, args.sql, args.netease_rate
    );
    let scratch = ScratchDir::new("p7")?;
    let target = SqlTarget::fresh(&args, &scratch.path().join("data")).await?;
    println!("SQL: {}", target.describe());
    let outcome = measure(&args, &binary, scratch.path(), &target).await;
    target.discard().await?;
    outcome
}

/// Where the service's SQL database lives for this run.
enum SqlTarget {
    Sqlite { data_dir: PathBuf },
    Mysql { server: String, database: String },
}

impl SqlTarget {
    async fn fresh(args: &P7Args, data_dir: &Path) -> anyhow::Result<Self> {
        Ok(match args.sql {
            SqlKind::Sqlite => SqlTarget::Sqlite { data_dir: data_dir.to_owned() },
            SqlKind::Mysql => {
                let mut url = reqwest::Url::parse(&args.mysql_url).context("--mysql-url")?;
                url.set_path("");
                let server = url.to_string().trim_end_matches('/').to_owned();
                let database = format!("imbridge_bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
                let mut conn = sqlx::MySqlConnection::connect(&server)
                    .await
                    .with_context(|| format!("connect to {}", redact(&server)))?;
                sqlx::query(&format!("CREATE DATABASE {database}")).execute(&mut conn).await?;
                conn.close().await?;
                SqlTarget::Mysql { server, database }
            }
        })
    }

    /// The service's `database_url`.
    fn url(&self) -> String {
        match self {
            SqlTarget::Sqlite { data_dir } => format!("sqlite://{}", data_dir.join("imbridge.db").display()),
            SqlTarget::Mysql { server, database } => format!("{server}/{database}"),
        }
    }

    fn describe(&self) -> String {
        match self {
            SqlTarget::Sqlite { .. } => format!("SQLite {}", self.url()),
            SqlTarget::Mysql { server, database } => format!("MySQL/MariaDB {} database {database}", redact(server)),
        }
    }

    async fn discard(&self) -> anyhow::Result<()> {
        if let SqlTarget::Mysql { server, database } = self {
            let mut conn = sqlx::MySqlConnection::connect(server).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {database}")).execute(&mut conn).await?;
            conn.close().await?;
        }
        Ok(())
    }
}

fn shop_id(s: usize) -> String {
    format!("shop_{s:02}")
}

fn agent_id(s: usize, a: usize) -> String {
    format!("shop_{s:02}_a{a:02}")
}

/// What one measured path gave.
struct PathRun {
    load: LoadResult,
    answers: Vec<Answer>,
    provider_calls: u64,
}

async fn measure(args: &P7Args, binary: &Path, dir: &Path, target: &SqlTarget) -> anyhow::Result<()> {
    let sim = server::simulator(0).await?;
    let env = vec![
        ("IMBRIDGE_DATABASE_URL".to_owned(), target.url()),
        // Messages and presence in the embedded store, whatever the SQL database.
        ("IMBRIDGE_MONGODB_URI".to_owned(), String::new()),
        ("IMBRIDGE_NETEASE_RATE_PER_SECOND".to_owned(), args.netease_rate.to_string()),
    ];
    let spec = ServerSpec { binary, dir, netease_base_url: &sim.base_url(), env };
    let mut service = Server::spawn(&spec)?;
    let outcome = async {
        service.wait_ready(Duration::from_secs(60)).await?;
        let started = Instant::now();
        set_up(args, service.addr).await?;
        println!(
            "set up {} shops and {} agents (online, available) in {:.1} s",
            args.shops,
            args.shops * args.agents,
            started.elapsed().as_secs_f64()
        );

        let calls = || sim.state().call_counts().total;
        if args.warmup > 0 {
            let warm = baseline_requests(args, "wb", args.warmup);
            let (warm, _) = load::post_json(service.addr, Arc::new(warm), args.concurrency.min(args.warmup)).await;
            ensure!(warm.failed_total() == 0, "warm-up: {}", warm.describe_failures());
        }
        let before = calls();
        let (load, answers) =
            load::post_json(service.addr, Arc::new(baseline_requests(args, "cb", args.requests)), args.concurrency)
                .await;
        let baseline = PathRun { load, answers, provider_calls: calls() - before };

        let before = calls();
        let (load, answers) = load::post_json(service.addr, Arc::new(routing_requests(args)), args.concurrency).await;
        let routing = PathRun { load, answers, provider_calls: calls() - before };

        let check = check_http(args, service.addr, &routing.answers).await?;
        anyhow::Ok((baseline, routing, check))
    }
    .await;
    let log = service.log_tail();
    service.stop().await?;
    sim.shutdown().await;
    let (baseline, routing, check) = outcome.with_context(|| format!("the service said:\n{log}"))?;

    // The same invariant from the database itself, with the service stopped.
    let sql = Sql::connect(&target.url()).await.context("open the service's database")?;
    let store_violations = RoutingStore::new(sql.clone()).capacity_violations().await?;
    sql.close().await;

    report(args, &baseline, &routing, &check, &store_violations);
    ensure!(check.problems.is_empty() && store_violations.is_empty(), "capacity or uniqueness violated (see above)");
    Ok(())
}

/// Shops, agents, presence and availability, through the API as an operator would.
async fn set_up(args: &P7Args, addr: SocketAddr) -> anyhow::Result<()> {
    let mut conn = Connection::open(addr).await?;
    for s in 0..args.shops {
        let agents: Vec<Value> = (0..args.agents)
            .map(|a| json!({"account": agent_id(s, a), "name": format!("Agent {a}"), "capacity": args.capacity}))
            .collect();
        let body = json!({
            "name": format!("Shop {s}"),
            "owner": shop_id(s),
            "agents": agents,
            "routing": {"sticky_hours": 72, "fallback": args.fallback.as_str(), "idle_close_hours": 24},
        });
        expect_ok(&mut conn, "PUT", &format!("/v1/shops/{}", shop_id(s)), &body).await?;
    }
    // Every agent logs in: the signed eventType-2 callback NetEase would post.
    let now = imbridge_netease::sign::now_millis();
    let logins: Vec<Vec<u8>> = (0..args.shops)
        .flat_map(|s| (0..args.agents).map(move |a| agent_id(s, a)))
        .map(|accid| {
            json!({"clientType": "AOS", "code": "200", "accid": accid, "eventType": "2", "deviceId": "bench", "timestamp": now.to_string()})
                .to_string()
                .into_bytes()
        })
        .collect();
    let posted = load::post_callbacks(addr, CALLBACK_PATH, Arc::new(logins), 16).await;
    ensure!(posted.failed_total() == 0, "login callbacks: {}", posted.describe_failures());
    for s in 0..args.shops {
        for a in 0..args.agents {
            let path = format!("/v1/shops/{}/agents/{}/availability", shop_id(s), agent_id(s, a));
            expect_ok(&mut conn, "PUT", &path, &json!({"status": "available"})).await?;
        }
    }
    for s in 0..args.shops {
        let reply = get_json(&mut conn, &format!("/v1/shops/{}/agents", shop_id(s))).await?;
        let agents = reply["agents"].as_array().context("agents")?;
        ensure!(agents.len() == args.agents, "shop {} lists {} agents", shop_id(s), agents.len());
        for agent in agents {
            ensure!(
                agent["online"] == true && agent["availability"] == "available" && agent["open_assignments"] == 0,
                "agent not ready after set-up: {agent}"
            );
        }
    }
    Ok(())
}

/// `POST /v1/chats`: a new buyer and shop `i mod S`'s owner.
fn baseline_requests(args: &P7Args, prefix: &str, count: usize) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let body = json!({
                "buyer": {"account": format!("{prefix}_{i:06}"), "name": format!("Buyer {i}")},
                "seller": {"account": shop_id(i % args.shops)},
            });
            ("/v1/chats".to_owned(), body.to_string().into_bytes())
        })
        .collect()
}

/// `POST /v1/shops/{i mod S}/chats` for a new buyer each.
fn routing_requests(args: &P7Args) -> Vec<(String, Vec<u8>)> {
    (0..args.requests)
        .map(|i| {
            let body = json!({"buyer": {"account": format!("rb_{i:06}"), "name": format!("Buyer {i}")}});
            (format!("/v1/shops/{}/chats", shop_id(i % args.shops)), body.to_string().into_bytes())
        })
        .collect()
}

async fn expect_ok(conn: &mut Connection, method: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
    let response =
        conn.send(method, path, &[("Content-Type", "application/json")], body.to_string().as_bytes()).await?;
    if response.status != 200 {
        bail!("{method} {path} answered {}: {}", response.status, String::from_utf8_lossy(&response.body));
    }
    Ok(serde_json::from_slice(&response.body)?)
}

async fn get_json(conn: &mut Connection, path: &str) -> anyhow::Result<Value> {
    let response = conn.send("GET", path, &[], b"").await?;
    if response.status != 200 {
        bail!("GET {path} answered {}: {}", response.status, String::from_utf8_lossy(&response.body));
    }
    Ok(serde_json::from_slice(&response.body)?)
}

/// What the HTTP side shows after the routing run.
struct HttpCheck {
    /// Routed chats by `reason`, and `409 <code>` for the refused ones.
    reasons: BTreeMap<String, usize>,
    /// Open assignments per agent (min, max) and per owner (fallback, min, max).
    agent_load: (i64, i64),
    owner_load: (usize, usize),
    agents_full: usize,
    open_total: usize,
    problems: Vec<String>,
}

async fn check_http(args: &P7Args, addr: SocketAddr, answers: &[Answer]) -> anyhow::Result<HttpCheck> {
    let mut problems = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut routed: HashMap<String, (String, String)> = HashMap::new();
    for (i, answer) in answers.iter().enumerate() {
        if answer.status == 409 {
            let reply: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
            let code = reply["code"].as_str().unwrap_or("?");
            *reasons.entry(format!("409 {code}")).or_default() += 1;
        }
        if answer.status != 200 {
            continue;
        }
        let reply: Value = serde_json::from_slice(&answer.body).context("a routed chat's answer")?;
        let reason = reply["reason"].as_str().unwrap_or("?").to_owned();
        *reasons.entry(reason).or_default() += 1;
        if reply["reused"] != false {
            problems.push(format!("request {i}: a new buyer was answered reused: {reply}"));
        }
        let id = reply["assignment_id"].as_str().unwrap_or_default().to_owned();
        let agent = reply["agent"]["accid"].as_str().unwrap_or_default().to_owned();
        routed.insert(id, (shop_id(i % args.shops), agent));
    }

    let mut conn = Connection::open(addr).await?;
    let (mut agent_min, mut agent_max, mut agents_full) = (i64::MAX, i64::MIN, 0);
    let (mut owner_min, mut owner_max) = (usize::MAX, 0);
    let mut open_total = 0;
    for s in 0..args.shops {
        let shop = shop_id(s);
        let mut open: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/shops/{shop}/assignments?status=open&limit=200");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = get_json(&mut conn, &path).await?;
            open.extend(page["assignments"].as_array().context("assignments")?.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        open_total += open.len();
        let mut per_agent: HashMap<String, i64> = HashMap::new();
        let mut buyers = HashSet::new();
        for a in &open {
            let (buyer, agent, id) =
                (a["buyer"].as_str().unwrap_or(""), a["agent"].as_str().unwrap_or(""), a["id"].as_str().unwrap_or(""));
            *per_agent.entry(agent.to_owned()).or_default() += 1;
            if !buyers.insert(buyer.to_owned()) {
                problems.push(format!("{shop}: buyer {buyer} has two open assignments"));
            }
            match routed.get(id) {
                Some((routed_shop, routed_agent)) if *routed_shop == shop && routed_agent == agent => {}
                Some(other) => problems.push(format!("{shop}: assignment {id} is {agent}, was answered {other:?}")),
                None => problems.push(format!("{shop}: open assignment {id} was never answered")),
            }
        }
        let owner_open = usize::try_from(per_agent.get(&shop).copied().unwrap_or(0)).unwrap_or(0);
        owner_min = owner_min.min(owner_open);
        owner_max = owner_max.max(owner_open);
        let reply = get_json(&mut conn, &format!("/v1/shops/{shop}/agents")).await?;
        for agent in reply["agents"].as_array().context("agents")? {
            let accid = agent["accid"].as_str().unwrap_or("");
            let counter = agent["open_assignments"].as_i64().unwrap_or(-1);
            let capacity = agent["capacity"].as_i64().unwrap_or(-1);
            let listed = per_agent.get(accid).copied().unwrap_or(0);
            if counter > capacity || listed > capacity || counter != listed {
                problems.push(format!(
                    "{shop}/{accid}: capacity {capacity}, open_assignments {counter}, open assignments listed {listed}"
                ));
            }
            agent_min = agent_min.min(counter);
            agent_max = agent_max.max(counter);
            agents_full += usize::from(counter == capacity);
        }
    }
    let answered = routed.len();
    if open_total != answered {
        problems.push(format!("{answered} chats routed, {open_total} assignments open"));
    }
    Ok(HttpCheck {
        reasons,
        agent_load: (agent_min, agent_max),
        owner_load: (owner_min, owner_max),
        agents_full,
        open_total,
        problems,
    })
}

fn report(args: &P7Args, baseline: &PathRun, routing: &PathRun, check: &HttpCheck, store_violations: &[String]) {
    let mut table =
        Table::new(&["path", "ok", "failed", "chats/s", "p50", "p99", "max", "provider calls", "routing / this (p99)"]);
    let routing_p99 = Latency::of(routing.load.latencies.clone()).p99;
    for (label, run) in [
        (format!("POST /v1/chats (baseline), {} connections", args.concurrency), baseline),
        (format!("POST /v1/shops/{{id}}/chats (routing), {} connections", args.concurrency), routing),
    ] {
        let l = Latency::of(run.load.latencies.clone());
        table.row(vec![
            label,
            run.load.acked.to_string(),
            run.load.describe_failures(),
            format!("{:.0}", per_second(run.load.acked, run.load.elapsed)),
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
            run.provider_calls.to_string(),
            ratio(routing_p99.as_secs_f64(), l.p99.as_secs_f64()),
        ]);
    }
    println!();
    table.print();

    let agents = args.shops * args.agents;
    let reasons: Vec<String> = check.reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
    let mut facts = Table::new(&["check", "value"]);
    facts.row(vec!["chats by reason".into(), reasons.join(", ")]);
    facts.row(vec!["open assignments (HTTP)".into(), check.open_total.to_string()]);
    facts.row(vec![
        "open per agent (min-max)".into(),
        format!(
            "{}-{} of capacity {}; {} of {agents} agents full",
            check.agent_load.0, check.agent_load.1, args.capacity, check.agents_full
        ),
    ]);
    facts.row(vec![
        "fallback chats per owner (min-max)".into(),
        format!("{}-{}", check.owner_load.0, check.owner_load.1),
    ]);
    facts.row(vec!["violations seen over HTTP".into(), check.problems.len().to_string()]);
    facts.row(vec!["RoutingStore::capacity_violations()".into(), store_violations.len().to_string()]);
    println!();
    facts.print();
    for problem in check.problems.iter().chain(store_violations).take(20) {
        println!("  violation: {problem}");
    }
    let baseline_rate = per_second(baseline.load.acked, baseline.load.elapsed);
    let routing_rate = per_second(routing.load.acked, routing.load.elapsed);
    println!();
    println!(
        "routing: {:.0} chats/s = {} of the baseline's; p99 {} = {} of the baseline's",
        routing_rate,
        ratio(routing_rate, baseline_rate),
        ms(routing_p99),
        ratio(routing_p99.as_secs_f64(), Latency::of(baseline.load.latencies.clone()).p99.as_secs_f64())
    );
}
