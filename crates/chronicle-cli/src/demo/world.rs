//! The demo generator: a simulated fortnight at a cargo company's admin dashboard, produced as
//! a list of write requests. The generator keeps its own model of every entity so that each
//! request is valid against the state the earlier ones leave behind (a restore carries the
//! data the entity had, an update never targets a deleted entity).

use super::names::*;
use super::rng::Rng;
use chronicle_core::entity::merge_patch;
use chronicle_core::entry::{Actor, Operation, RequestContext, Severity};
use chronicle_core::write::{EntityOp, EventInput};
use chronicle_store::{WriteKind, WriteRequest};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime, Time};

/// Simulated days of activity.
pub const DAYS: i64 = 14;
/// Working hours each day: the clock jumps from the end to the next morning.
const DAY_START_HOUR: u8 = 7;
const DAY_END_HOUR: u8 = 20;
const SEED: u64 = 0x0C4A_A60C_2026;

/// Someone who acts in the demo: a dashboard account and the machine it works from.
struct Admin {
    id: &'static str,
    name: &'static str,
    email: Option<&'static str>,
    role: &'static str,
    ip: Option<&'static str>,
    user_agent: &'static str,
}

const CHROME_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX_MAC: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.6; rv:132.0) Gecko/20100101 Firefox/132.0";
const SAFARI_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";
const EDGE_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
const TABLET: &str = "Mozilla/5.0 (Linux; Android 14; SM-X210) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

const SUPER: usize = 0;
const OPS: usize = 1;
const BILLING: usize = 2;
const SUPPORT: usize = 3;
const SUPPORT_REMOTE: usize = 4;
const WAREHOUSE: usize = 5;
const IMPORTER: usize = 6;
const SCHEDULER: usize = 7;

const ADMINS: [Admin; 8] = [
    Admin {
        id: "USR-001",
        name: "Maria Santos",
        email: Some("maria.santos@qcscargo.example"),
        role: "super_admin",
        ip: Some("10.20.1.15"),
        user_agent: CHROME_WIN,
    },
    Admin {
        id: "USR-002",
        name: "James Okafor",
        email: Some("james.okafor@qcscargo.example"),
        role: "operations_manager",
        ip: Some("10.20.3.42"),
        user_agent: FIREFOX_MAC,
    },
    Admin {
        id: "USR-003",
        name: "Li Wei",
        email: Some("li.wei@qcscargo.example"),
        role: "billing_admin",
        ip: Some("10.20.5.77"),
        user_agent: SAFARI_MAC,
    },
    Admin {
        id: "USR-004",
        name: "Priya Nair",
        email: Some("priya.nair@qcscargo.example"),
        role: "support_agent",
        ip: Some("172.16.4.9"),
        user_agent: EDGE_WIN,
    },
    Admin {
        id: "USR-005",
        name: "Kevin Baptiste",
        email: Some("kevin.baptiste@qcscargo.example"),
        role: "support_agent",
        ip: Some("198.51.100.87"),
        user_agent: CHROME_LINUX,
    },
    Admin {
        id: "USR-006",
        name: "Ahmed Hassan",
        email: Some("ahmed.hassan@qcscargo.example"),
        role: "warehouse_supervisor",
        ip: Some("10.20.8.3"),
        user_agent: TABLET,
    },
    Admin {
        id: "USR-SVC-IMPORT",
        name: "Legacy CRM importer",
        email: None,
        role: "service",
        ip: Some("10.0.0.5"),
        user_agent: "qcs-legacy-import/2.3.1",
    },
    Admin {
        id: "system",
        name: "Scheduler",
        email: None,
        role: "system",
        ip: None,
        user_agent: "qcs-scheduler/1.4.0",
    },
];

/// Shipment statuses in the order a shipment normally goes through them.
const FLOW: [&str; 6] = [
    "pending",
    "received",
    "in_transit",
    "arrived",
    "out_for_delivery",
    "delivered",
];

/// One entity as the generator believes the store holds it.
struct Ent {
    id: String,
    data: Value,
    live: bool,
}

#[derive(Default)]
struct Table {
    ty: &'static str,
    ents: Vec<Ent>,
}

struct ShipmentInfo {
    customer: usize,
    packages: Vec<usize>,
    invoiced: bool,
}

/// Sizes derived from `--scale`.
struct Sizes {
    customers: usize,
    imported: usize,
    steps: usize,
}

impl Sizes {
    fn of(scale: f64) -> Sizes {
        let n = |base: f64, min: usize| ((base * scale).round() as usize).max(min);
        let customers = n(300.0, 8);
        Sizes {
            customers,
            imported: (customers * 3 / 5).max(4),
            steps: n(2600.0, 40),
        }
    }
}

pub struct World {
    rng: Rng,
    clock: OffsetDateTime,
    mean_gap: f64,
    day: i64,
    sessions: Vec<String>,
    sizes: Sizes,
    out: Vec<WriteRequest>,
    customers: Table,
    shipments: Table,
    ship_info: Vec<ShipmentInfo>,
    packages: Table,
    invoices: Table,
    warehouses: Table,
    users: Table,
    settings: Table,
    open_shipments: Vec<usize>,
    uninvoiced: Vec<usize>,
    open_invoices: Vec<usize>,
    deleted_packages: Vec<usize>,
    deleted_shipments: Vec<usize>,
    corr_seq: u64,
}

/// The whole demo as write requests, oldest first, starting the morning of `start`'s day.
pub fn generate(scale: f64, start: OffsetDateTime) -> Vec<WriteRequest> {
    let sizes = Sizes::of(scale);
    let working_seconds = (DAYS * i64::from(DAY_END_HOUR - DAY_START_HOUR) * 3600) as f64;
    let mut w = World {
        rng: Rng::new(SEED),
        clock: start.replace_time(Time::from_hms(DAY_START_HOUR, 0, 0).expect("valid time")),
        // The steps inside one action take time too (about a sixth of the total).
        mean_gap: working_seconds / sizes.steps as f64 * 0.85,
        day: 0,
        sessions: Vec::new(),
        sizes,
        out: Vec::new(),
        customers: Table {
            ty: "customer",
            ..Table::default()
        },
        shipments: Table {
            ty: "shipment",
            ..Table::default()
        },
        ship_info: Vec::new(),
        packages: Table {
            ty: "package",
            ..Table::default()
        },
        invoices: Table {
            ty: "invoice",
            ..Table::default()
        },
        warehouses: Table {
            ty: "warehouse",
            ..Table::default()
        },
        users: Table {
            ty: "user",
            ..Table::default()
        },
        settings: Table {
            ty: "setting",
            ..Table::default()
        },
        open_shipments: Vec::new(),
        uninvoiced: Vec::new(),
        open_invoices: Vec::new(),
        deleted_packages: Vec::new(),
        deleted_shipments: Vec::new(),
        corr_seq: 0,
    };
    w.new_sessions();
    w.setup();
    w.bulk_import();
    w.tick();
    w.onboarding_transaction();
    for _ in 0..w.sizes.steps {
        w.tick();
        w.step();
    }
    w.out
}

/// Which table an entity operation goes to.
#[derive(Clone, Copy)]
enum T {
    Customer,
    Shipment,
    Package,
    Invoice,
    Warehouse,
    User,
    Setting,
}

impl World {
    fn table(&mut self, t: T) -> &mut Table {
        match t {
            T::Customer => &mut self.customers,
            T::Shipment => &mut self.shipments,
            T::Package => &mut self.packages,
            T::Invoice => &mut self.invoices,
            T::Warehouse => &mut self.warehouses,
            T::User => &mut self.users,
            T::Setting => &mut self.settings,
        }
    }

    // ----------------------------------------------------------------------------- time

    /// The gap between two independent actions: exponential around the mean, so activity
    /// comes in bursts like real traffic.
    fn tick(&mut self) {
        let gap = -(1.0 - self.rng.unit()).ln() * self.mean_gap;
        self.advance(gap.min(self.mean_gap * 8.0));
    }

    /// The gap between the steps of one action (a shipment and its packages).
    fn tick_short(&mut self) {
        let gap = self.rng.range(2, 45) as f64;
        self.advance(gap);
    }

    fn advance(&mut self, seconds: f64) {
        self.clock += Duration::seconds_f64(seconds.max(0.001));
        if self.clock.hour() >= DAY_END_HOUR {
            self.next_day();
        }
    }

    /// Night: the scheduler's jobs, then the next working morning with new sessions.
    fn next_day(&mut self) {
        let date = self
            .clock
            .date()
            .next_day()
            .expect("demo dates are far from the end of time");
        let night = Time::from_hms(2, self.rng.below(50) as u8, self.rng.below(60) as u8)
            .expect("valid time");
        self.clock = date.with_time(night).assume_utc();
        self.day += 1;
        self.nightly();
        let morning =
            Time::from_hms(DAY_START_HOUR, self.rng.below(40) as u8, 0).expect("valid time");
        self.clock = date.with_time(morning).assume_utc();
        self.new_sessions();
    }

    fn new_sessions(&mut self) {
        self.sessions = (0..ADMINS.len())
            .map(|_| format!("sess_{}", self.rng.hex(24)))
            .collect();
    }

    // ----------------------------------------------------------------------------- emitting

    fn ctx(&self, who: usize, reason: Option<&str>, correlation: Option<&str>) -> RequestContext {
        let a = &ADMINS[who];
        RequestContext {
            actor: Actor {
                id: Some(a.id.to_owned()),
                email: a.email.map(str::to_owned),
                role: Some(a.role.to_owned()),
            },
            session_id: if who == SCHEDULER {
                None
            } else {
                Some(self.sessions[who].clone())
            },
            ip: a.ip.map(str::to_owned),
            user_agent: Some(a.user_agent.to_owned()),
            reason: reason.map(str::to_owned),
            correlation_id: correlation.map(str::to_owned),
            rollback_id: None,
            at: Some(self.clock),
            system: false,
        }
    }

    fn correlation(&mut self, prefix: &str) -> String {
        self.corr_seq += 1;
        format!("{prefix}-{:05}-{}", self.corr_seq, self.rng.hex(8))
    }

    fn push(
        &mut self,
        who: usize,
        reason: Option<&str>,
        correlation: Option<&str>,
        kind: WriteKind,
    ) {
        let context = self.ctx(who, reason, correlation);
        self.out.push(WriteRequest { context, kind });
    }

    fn single(
        &mut self,
        who: usize,
        reason: Option<&str>,
        correlation: Option<&str>,
        op: EntityOp,
    ) {
        self.push(who, reason, correlation, WriteKind::Single(op));
    }

    fn event(&mut self, who: usize, reason: Option<&str>, event: EventInput) {
        self.push(who, reason, None, WriteKind::Event(event));
    }

    // ----------------------------------------------------------------------------- the model

    fn create(&mut self, t: T, id: String, data: Value) -> (usize, EntityOp) {
        let table = self.table(t);
        let op = EntityOp::Create {
            entity_type: table.ty.to_owned(),
            id: Some(id.clone()),
            data: data.clone(),
        };
        table.ents.push(Ent {
            id,
            data,
            live: true,
        });
        (table.ents.len() - 1, op)
    }

    fn update(&mut self, t: T, i: usize, patch: Value) -> EntityOp {
        let table = self.table(t);
        let e = &mut table.ents[i];
        debug_assert!(e.live, "the generator updates only live entities");
        merge_patch(&mut e.data, &patch);
        EntityOp::Update {
            entity_type: table.ty.to_owned(),
            id: e.id.clone(),
            patch,
            expected_version: None,
        }
    }

    fn delete(&mut self, t: T, i: usize) -> EntityOp {
        let table = self.table(t);
        let e = &mut table.ents[i];
        e.live = false;
        EntityOp::Delete {
            entity_type: table.ty.to_owned(),
            id: e.id.clone(),
            expected_version: None,
        }
    }

    fn restore(&mut self, t: T, i: usize) -> EntityOp {
        let table = self.table(t);
        let e = &mut table.ents[i];
        e.live = true;
        EntityOp::Restore {
            entity_type: table.ty.to_owned(),
            id: e.id.clone(),
            data: e.data.clone(),
            expected_version: None,
        }
    }

    fn str_field(&self, t: &Table, i: usize, field: &str) -> String {
        t.ents[i]
            .data
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    fn setting_value(&self, key: &str) -> Value {
        self.settings
            .ents
            .iter()
            .find(|e| e.id == key)
            .map(|e| e.data["value"].clone())
            .unwrap_or(Value::Null)
    }

    // ----------------------------------------------------------------------------- day zero

    fn setup(&mut self) {
        self.event(
            SCHEDULER,
            None,
            EventInput {
                operation: Some(Operation::System),
                summary: Some("Admin dashboard audit logging enabled".into()),
                metadata: Some(json!({"component": "audit", "version": env!("CARGO_PKG_VERSION")})),
                tags: Some(vec!["startup".into()]),
                ..EventInput::default()
            },
        );
        for (who, a) in ADMINS.iter().enumerate().take(IMPORTER + 1) {
            self.tick_short();
            let data = match a.email {
                Some(email) => {
                    json!({"email": email, "name": a.name, "role": a.role, "status": "active", "mfa_enabled": who != SUPPORT_REMOTE})
                }
                None => {
                    json!({"email": "svc-importer@qcscargo.example", "name": a.name, "role": a.role, "status": "active", "mfa_enabled": false})
                }
            };
            let (_, op) = self.create(T::User, a.id.to_owned(), data);
            self.single(SUPER, Some("Initial dashboard accounts"), None, op);
        }
        for (i, (id, code, name, city, country, _)) in WAREHOUSES.iter().enumerate() {
            self.tick_short();
            let data = json!({
                "code": code, "name": name, "city": city, "country": country,
                "capacity_m3": if i == 0 { 12_000 } else { self.rng.range(800, 4_000) },
                "manager": format!("{} {}", self.rng.pick(FIRST_NAMES), self.rng.pick(LAST_NAMES)),
                "active": true,
            });
            let (_, op) = self.create(T::Warehouse, (*id).to_owned(), data);
            self.single(SUPER, Some("Initial warehouse network"), None, op);
        }
        let settings = [
            (
                "fuel_surcharge_pct",
                json!(12.5),
                "Fuel surcharge added to freight charges, percent",
            ),
            (
                "air_rate_per_kg",
                json!(3.25),
                "Base air freight rate, USD per kg",
            ),
            (
                "ocean_rate_per_kg",
                json!(1.1),
                "Base ocean freight rate, USD per kg",
            ),
            (
                "express_rate_per_kg",
                json!(5.75),
                "Base express rate, USD per kg",
            ),
            ("handling_fee", json!(4.5), "Handling fee per package, USD"),
            (
                "max_package_weight_kg",
                json!(68),
                "Heaviest package accepted at the counter",
            ),
            ("default_currency", json!("USD"), "Currency of new invoices"),
            (
                "invoice_terms_days",
                json!(14),
                "Days until an issued invoice is due",
            ),
            (
                "customs_auto_hold",
                json!(true),
                "Hold shipments with incomplete commercial invoices",
            ),
        ];
        for (key, value, description) in settings {
            self.tick_short();
            let (_, op) = self.create(
                T::Setting,
                key.to_owned(),
                json!({"key": key, "value": value, "description": description}),
            );
            self.single(SUPER, Some("Initial configuration"), None, op);
        }
        self.tick_short();
        self.event(
            SUPER,
            Some("Go-live checklist"),
            EventInput {
                operation: Some(Operation::Config),
                summary: Some("Rate tables published for all destinations".into()),
                metadata: Some(json!({"tables": WAREHOUSES.len() - 1})),
                tags: Some(vec!["rates".into()]),
                ..EventInput::default()
            },
        );
    }

    fn customer_data(&mut self, n: usize) -> Value {
        let first = *self.rng.pick(FIRST_NAMES);
        let last = *self.rng.pick(LAST_NAMES);
        let dest = 1 + self.rng.below(WAREHOUSES.len() - 1);
        let (_, _, _, city, country, prefix) = WAREHOUSES[dest];
        let company = if self.rng.chance(0.3) {
            Value::from(*self.rng.pick(COMPANIES))
        } else {
            Value::Null
        };
        let tier = *self
            .rng
            .pick(&["standard", "standard", "standard", "business", "premium"]);
        let mut data = json!({
            "name": format!("{first} {last}"),
            "email": format!("{}.{}{}@mail.example", first.to_lowercase(), last.to_lowercase(), n % 100),
            "phone": format!("{prefix}-555-{:04}", self.rng.below(10_000)),
            "address": {
                "line1": format!("{} {}", self.rng.range(1, 240), self.rng.pick(STREETS)),
                "city": city,
                "country": country,
            },
            "tier": tier,
            "status": "active",
            "credit_limit": match tier { "premium" => 10_000.0, "business" => 5_000.0, _ => 500.0 },
            "mailbox": format!("QCS-MIA-{:05}", 10_000 + n),
        });
        if !company.is_null() {
            data["company"] = company;
        }
        data
    }

    fn bulk_import(&mut self) {
        self.tick();
        let correlation = self.correlation("import");
        let mut ops = Vec::new();
        for n in 0..self.sizes.imported {
            let data = self.customer_data(n);
            let (_, op) = self.create(T::Customer, format!("CUS-{:05}", 10_001 + n), data);
            ops.push(op);
        }
        // One request per bulk limit; the default scale fits in one.
        let chunks: Vec<Vec<EntityOp>> = ops
            .chunks(chronicle_core::limits::MAX_BATCH_OPS)
            .map(<[EntityOp]>::to_vec)
            .collect();
        for ops in chunks {
            self.push(
                IMPORTER,
                Some("Migration of customer accounts from the legacy CRM"),
                Some(&correlation),
                WriteKind::Bulk { ops, atomic: true },
            );
        }
        self.tick_short();
        self.event(
            IMPORTER,
            None,
            EventInput {
                operation: Some(Operation::System),
                summary: Some(format!(
                    "Legacy CRM import finished: {} customer accounts",
                    self.sizes.imported
                )),
                metadata: Some(
                    json!({"source": "legacy-crm", "records": self.sizes.imported, "rejected": 0}),
                ),
                tags: Some(vec!["import".into()]),
                ..EventInput::default()
            },
        );
    }

    /// A corporate account opened with its first three shipments, all or nothing; then edited.
    fn onboarding_transaction(&mut self) {
        let correlation = self.correlation("onboard");
        let n = self.customers.ents.len();
        let mut data = self.customer_data(n);
        data["company"] = json!("Caribbean Pharma Distributors");
        data["tier"] = json!("business");
        data["credit_limit"] = json!(25_000.0);
        let (c, op) = self.create(T::Customer, format!("CUS-{:05}", 10_001 + n), data);
        let mut ops = vec![op];
        let mut shipments = Vec::new();
        for _ in 0..3 {
            let (s, op) = self.shipment_create(c, "express");
            shipments.push(s);
            ops.push(op);
        }
        self.push(
            OPS,
            Some("Corporate onboarding: contract CP-2291"),
            Some(&correlation),
            WriteKind::Transaction { ops },
        );
        self.tick_short();
        let op = self.update(T::Customer, c, json!({"credit_limit": 30_000.0}));
        self.single(
            SUPER,
            Some("Credit limit raised per signed contract"),
            Some(&correlation),
            op,
        );
        self.tick_short();
        let op = self.update(
            T::Shipment,
            shipments[0],
            json!({"notes": "Temperature controlled: keep at 2-8 C"}),
        );
        self.single(OPS, None, Some(&correlation), op);
        self.tick_short();
        let op = self.update(
            T::Shipment,
            shipments[2],
            json!({"service": "air", "notes": "Downgraded to air at customer request"}),
        );
        self.single(
            SUPPORT,
            Some("Customer request by phone"),
            Some(&correlation),
            op,
        );
    }

    // ----------------------------------------------------------------------------- the day

    fn step(&mut self) {
        const WEIGHTS: [u32; 16] = [22, 34, 8, 8, 2, 8, 6, 5, 2, 1, 1, 1, 1, 1, 3, 1];
        let done = match self.rng.weighted(&WEIGHTS) {
            0 => false,
            1 => self.advance_shipment(),
            2 => self.invoice_create(),
            3 => self.invoice_progress(),
            4 => self.invoice_correction(),
            5 => self.invoice_read(),
            6 => self.customer_edit(),
            7 => self.customer_signup(),
            8 => self.package_delete(),
            9 => self.package_restore(),
            10 => self.shipment_cancel(),
            11 => self.shipment_restore(),
            12 => self.setting_change(),
            13 => self.config_event(),
            14 => self.security_event(),
            _ => self.user_management(),
        };
        if !done {
            self.new_shipment();
        }
    }

    /// A live, active customer, found by a few random tries.
    fn pick_customer(&mut self) -> Option<usize> {
        for _ in 0..16 {
            let i = self.rng.below(self.customers.ents.len());
            let e = &self.customers.ents[i];
            if e.live && e.data["status"] == "active" {
                return Some(i);
            }
        }
        None
    }

    fn shipment_create(&mut self, customer: usize, service: &str) -> (usize, EntityOp) {
        let n = self.shipments.ents.len();
        let dest = 1 + self.rng.below(WAREHOUSES.len() - 1);
        let days = match service {
            "ocean" => self.rng.range(14, 28),
            "express" => self.rng.range(2, 4),
            _ => self.rng.range(4, 9),
        };
        let eta = chronicle_core::timefmt::format(self.clock + Duration::days(days));
        let data = json!({
            "tracking_number": format!("QCS{:09}", 240_000_000 + n * 7 + self.rng.below(7)),
            "customer_id": self.customers.ents[customer].id,
            "origin_warehouse_id": WAREHOUSES[0].0,
            "destination_warehouse_id": WAREHOUSES[dest].0,
            "service": service,
            "status": "pending",
            "weight_kg": 0.0,
            "declared_value": self.rng.money(40.0, 2_500.0),
            "eta": eta,
        });
        let (s, op) = self.create(T::Shipment, format!("SHP-{:06}", 100_001 + n), data);
        self.ship_info.push(ShipmentInfo {
            customer,
            packages: Vec::new(),
            invoiced: false,
        });
        self.open_shipments.push(s);
        (s, op)
    }

    fn new_shipment(&mut self) {
        let Some(c) = self.pick_customer() else {
            return;
        };
        let who = *self.rng.pick(&[OPS, SUPPORT, SUPPORT, SUPPORT_REMOTE]);
        let correlation = self.correlation("shp");
        let service = *self.rng.pick(&["air", "air", "air", "ocean", "express"]);
        let (s, op) = self.shipment_create(c, service);
        self.single(who, None, Some(&correlation), op);
        let mut total = 0.0;
        for _ in 0..1 + self.rng.below(3) {
            self.tick_short();
            let weight = self.rng.money(0.5, 30.0);
            total += weight;
            let carrier = format!(
                "{}{}",
                self.rng.pick(CARRIER_PREFIXES),
                self.rng.range(10_000_000, 99_999_999)
            );
            let data = json!({
                "shipment_id": self.shipments.ents[s].id,
                "customer_id": self.customers.ents[c].id,
                "warehouse_id": WAREHOUSES[0].0,
                "description": self.rng.pick(PACKAGE_DESCRIPTIONS),
                "weight_kg": weight,
                "dimensions_cm": {"length": self.rng.range(10, 120), "width": self.rng.range(10, 80), "height": self.rng.range(5, 60)},
                "status": "expected",
                "carrier_tracking": carrier,
            });
            let n = self.packages.ents.len();
            let (p, op) = self.create(T::Package, format!("PKG-{:07}", 1_000_001 + n), data);
            self.ship_info[s].packages.push(p);
            self.single(who, None, Some(&correlation), op);
        }
        self.tick_short();
        let op = self.update(
            T::Shipment,
            s,
            json!({"weight_kg": (total * 100.0_f64).round() / 100.0}),
        );
        self.single(who, None, Some(&correlation), op);
    }

    fn set_package_status(&mut self, s: usize, status: &str, who: usize, correlation: &str) {
        for p in self.ship_info[s].packages.clone() {
            if self.packages.ents[p].live && self.packages.ents[p].data["status"] != "damaged" {
                self.tick_short();
                let op = self.update(T::Package, p, json!({"status": status}));
                self.single(who, None, Some(correlation), op);
            }
        }
    }

    fn advance_shipment(&mut self) -> bool {
        if self.open_shipments.is_empty() {
            return false;
        }
        let k = self.rng.below(self.open_shipments.len());
        let s = self.open_shipments[k];
        let status = self.str_field(&self.shipments, s, "status");
        let correlation = self.correlation("status");
        let (next, who, reason): (&str, usize, Option<&str>) = match status.as_str() {
            "in_transit" if self.rng.chance(0.12) => (
                "customs_hold",
                OPS,
                Some("Held by customs: commercial invoice missing"),
            ),
            "customs_hold" => (
                "arrived",
                OPS,
                Some("Customs cleared after documents were supplied"),
            ),
            s => {
                let i = FLOW.iter().position(|f| *f == s).unwrap_or(0);
                let next = FLOW[(i + 1).min(FLOW.len() - 1)];
                let who = match next {
                    "received" | "in_transit" => WAREHOUSE,
                    "delivered" => SUPPORT_REMOTE,
                    _ => OPS,
                };
                (next, who, None)
            }
        };
        let op = self.update(T::Shipment, s, json!({"status": next}));
        self.single(who, reason, Some(&correlation), op);
        match next {
            "received" => {
                if self.rng.chance(0.05) {
                    // A damaged package, recorded with the receiving.
                    if let Some(&p) = self.ship_info[s].packages.first()
                        && self.packages.ents[p].live
                    {
                        self.tick_short();
                        let op = self.update(T::Package, p, json!({"status": "damaged"}));
                        self.single(
                            WAREHOUSE,
                            Some("Box crushed on arrival; photos attached to ticket"),
                            Some(&correlation),
                            op,
                        );
                    }
                }
                self.set_package_status(s, "received", WAREHOUSE, &correlation);
                self.uninvoiced.push(s);
            }
            "in_transit" => self.set_package_status(s, "shipped", WAREHOUSE, &correlation),
            "delivered" => {
                self.set_package_status(s, "delivered", SUPPORT_REMOTE, &correlation);
                self.open_shipments.swap_remove(k);
            }
            _ => {}
        }
        true
    }

    fn invoice_create(&mut self) -> bool {
        let Some(s) = self.uninvoiced.pop() else {
            return false;
        };
        if !self.shipments.ents[s].live || self.ship_info[s].invoiced {
            return false;
        }
        self.ship_info[s].invoiced = true;
        let ship = &self.shipments.ents[s].data;
        let service = ship["service"].as_str().unwrap_or("air").to_owned();
        let weight = ship["weight_kg"].as_f64().unwrap_or(1.0).max(1.0);
        let rate = self
            .setting_value(&format!("{service}_rate_per_kg"))
            .as_f64()
            .unwrap_or(3.0);
        let fuel_pct = self
            .setting_value("fuel_surcharge_pct")
            .as_f64()
            .unwrap_or(10.0);
        let handling = self.setting_value("handling_fee").as_f64().unwrap_or(4.0)
            * self.ship_info[s].packages.len() as f64;
        let round = |x: f64| (x * 100.0).round() / 100.0;
        let freight = round(weight * rate);
        let fuel = round(freight * fuel_pct / 100.0);
        let n = self.invoices.ents.len();
        let data = json!({
            "number": format!("INV-2026-{:06}", n + 1),
            "customer_id": self.customers.ents[self.ship_info[s].customer].id,
            "shipment_id": self.shipments.ents[s].id,
            "amount": round(freight + fuel + handling),
            "currency": "USD",
            "status": "draft",
            "line_items": [
                {"description": format!("{service} freight {weight:.2} kg at {rate:.2}/kg"), "amount": freight},
                {"description": format!("fuel surcharge {fuel_pct}%"), "amount": fuel},
                {"description": "handling", "amount": round(handling)},
            ],
        });
        let (i, op) = self.create(T::Invoice, format!("INV-{:06}", n + 1), data);
        self.open_invoices.push(i);
        self.single(BILLING, None, None, op);
        true
    }

    fn invoice_progress(&mut self) -> bool {
        if self.open_invoices.is_empty() {
            return false;
        }
        let k = self.rng.below(self.open_invoices.len());
        let i = self.open_invoices[k];
        let status = self.str_field(&self.invoices, i, "status");
        let (patch, reason) = match status.as_str() {
            "draft" if self.rng.chance(0.03) => (
                json!({"status": "void"}),
                Some("Shipment billed under a corporate contract"),
            ),
            "draft" => {
                let days = self
                    .setting_value("invoice_terms_days")
                    .as_i64()
                    .unwrap_or(14);
                (
                    json!({"status": "issued", "due_date": chronicle_core::timefmt::format(self.clock + Duration::days(days))}),
                    None,
                )
            }
            _ => (
                json!({"status": "paid"}),
                if status == "overdue" {
                    Some("Late payment received by bank transfer")
                } else {
                    None
                },
            ),
        };
        let terminal = matches!(patch["status"].as_str(), Some("paid" | "void"));
        let op = self.update(T::Invoice, i, patch);
        self.single(BILLING, reason, None, op);
        if terminal {
            self.open_invoices.swap_remove(k);
        }
        true
    }

    fn invoice_correction(&mut self) -> bool {
        if self.open_invoices.is_empty() {
            return false;
        }
        let i = *self.rng.pick(&self.open_invoices);
        let inv = &self.invoices.ents[i].data;
        let amount = inv["amount"].as_f64().unwrap_or(0.0);
        let factor = 0.85 + self.rng.unit() * 0.25;
        let new_amount = (amount * factor * 100.0).round() / 100.0;
        let mut items = inv["line_items"].clone();
        items[0]["amount"] = json!(
            ((items[0]["amount"].as_f64().unwrap_or(0.0) + new_amount - amount) * 100.0).round()
                / 100.0
        );
        let reason = *self.rng.pick(CORRECTION_REASONS);
        let op = self.update(
            T::Invoice,
            i,
            json!({"amount": new_amount, "line_items": items}),
        );
        self.single(BILLING, Some(reason), None, op);
        true
    }

    fn invoice_read(&mut self) -> bool {
        if self.invoices.ents.is_empty() {
            return false;
        }
        let i = self.rng.below(self.invoices.ents.len());
        let who = *self.rng.pick(&[BILLING, SUPPORT, SUPPORT_REMOTE, OPS]);
        let number = self.str_field(&self.invoices, i, "number");
        let view = *self
            .rng
            .pick(&["invoice_detail", "invoice_pdf", "customer_statement"]);
        self.event(
            who,
            None,
            EventInput {
                operation: Some(Operation::Read),
                entity_type: Some("invoice".into()),
                entity_id: Some(self.invoices.ents[i].id.clone()),
                summary: Some(format!("Viewed invoice {number}")),
                metadata: Some(json!({"view": view})),
                ..EventInput::default()
            },
        );
        true
    }

    fn customer_edit(&mut self) -> bool {
        let Some(c) = self.pick_customer() else {
            return false;
        };
        let who = *self.rng.pick(&[SUPPORT, SUPPORT, SUPPORT_REMOTE, OPS]);
        let prefix = self
            .str_field(&self.customers, c, "phone")
            .rsplitn(3, '-')
            .last()
            .unwrap_or("+1-876")
            .to_owned();
        let (patch, reason, who) = match self.rng.below(7) {
            0 | 1 => (
                json!({"phone": format!("{prefix}-555-{:04}", self.rng.below(10_000))}),
                Some("Customer called to update contact number"),
                who,
            ),
            2 | 3 => (
                json!({"address": {"line1": format!("{} {}", self.rng.range(1, 240), self.rng.pick(STREETS)), "line2": format!("Apt {}", self.rng.range(1, 40))}}),
                Some("Customer moved"),
                who,
            ),
            4 => (
                json!({"tier": "premium", "credit_limit": 10_000.0}),
                Some("Upgraded after 12 months of volume"),
                OPS,
            ),
            5 => (
                json!({"email": format!("customer{}@mail.example", self.rng.range(100, 999))}),
                Some("E-mail change verified by phone"),
                who,
            ),
            _ => (
                json!({"status": "suspended"}),
                Some("Payment overdue more than 60 days"),
                BILLING,
            ),
        };
        let op = self.update(T::Customer, c, patch);
        self.single(who, reason, None, op);
        true
    }

    fn customer_signup(&mut self) -> bool {
        let n = self.customers.ents.len();
        if n >= self.sizes.customers {
            return false;
        }
        let data = self.customer_data(n);
        let (_, op) = self.create(T::Customer, format!("CUS-{:05}", 10_001 + n), data);
        let reason = *self
            .rng
            .pick(&["Walk-in sign-up at the Miami counter", "Sign-up by phone"]);
        self.single(SUPPORT, Some(reason), None, op);
        true
    }

    fn package_delete(&mut self) -> bool {
        if self.packages.ents.is_empty() {
            return false;
        }
        let p = self.rng.below(self.packages.ents.len());
        if !self.packages.ents[p].live || self.packages.ents[p].data["status"] != "expected" {
            return false;
        }
        let op = self.delete(T::Package, p);
        self.single(
            WAREHOUSE,
            Some("Duplicate pre-alert: the same package was entered twice"),
            None,
            op,
        );
        self.deleted_packages.push(p);
        true
    }

    fn package_restore(&mut self) -> bool {
        let Some(p) = self.deleted_packages.pop() else {
            return false;
        };
        let op = self.restore(T::Package, p);
        self.single(
            OPS,
            Some("Deleted in error: package found at receiving bay 3"),
            None,
            op,
        );
        true
    }

    fn shipment_cancel(&mut self) -> bool {
        let Some(k) = (0..self.open_shipments.len())
            .find(|&k| self.shipments.ents[self.open_shipments[k]].data["status"] == "pending")
        else {
            return false;
        };
        let s = self.open_shipments.swap_remove(k);
        let correlation = self.correlation("cancel");
        let op = self.update(T::Shipment, s, json!({"status": "cancelled"}));
        self.single(
            SUPPORT,
            Some("Customer cancelled the order"),
            Some(&correlation),
            op,
        );
        if self.rng.chance(0.6) {
            self.tick_short();
            let op = self.delete(T::Shipment, s);
            self.single(
                OPS,
                Some("Cancelled shipment removed from the board"),
                Some(&correlation),
                op,
            );
            self.deleted_shipments.push(s);
        }
        true
    }

    fn shipment_restore(&mut self) -> bool {
        let Some(s) = self.deleted_shipments.pop() else {
            return false;
        };
        let op = self.restore(T::Shipment, s);
        self.single(
            SUPER,
            Some("Restored for a billing dispute investigation"),
            None,
            op,
        );
        true
    }

    fn setting_change(&mut self) -> bool {
        let i = self.rng.below(self.settings.ents.len());
        let value = self.settings.ents[i].data["value"].clone();
        let new = match &value {
            Value::Bool(b) => json!(!b),
            Value::Number(n) if n.is_f64() => json!(
                ((n.as_f64().unwrap_or(1.0) * (0.9 + self.rng.unit() * 0.25)) * 100.0).round()
                    / 100.0
            ),
            Value::Number(n) => json!(n.as_i64().unwrap_or(1) + self.rng.range(-2, 3)),
            _ => return false,
        };
        if new == value {
            return false;
        }
        let reason = *self.rng.pick(&[
            "Quarterly pricing review",
            "Carrier price change",
            "Management decision",
        ]);
        let op = self.update(T::Setting, i, json!({"value": new}));
        self.single(SUPER, Some(reason), None, op);
        true
    }

    fn config_event(&mut self) -> bool {
        let (key, summary) = *self.rng.pick(CONFIG_CHANGES);
        let old = self.rng.range(1, 9);
        self.event(
            SUPER,
            Some("Change request approved"),
            EventInput {
                operation: Some(Operation::Config),
                summary: Some(summary.into()),
                old_values: Some(json!({"key": key, "revision": old})),
                new_values: Some(json!({"key": key, "revision": old + 1})),
                tags: Some(vec!["config".into()]),
                ..EventInput::default()
            },
        );
        true
    }

    fn security_event(&mut self) -> bool {
        let who = *self
            .rng
            .pick(&[SUPER, OPS, BILLING, SUPPORT, SUPPORT_REMOTE, WAREHOUSE]);
        let mut ctx = self.ctx(who, None, None);
        let roll = self.rng.below(10);
        let (summary, severity, metadata) = match roll {
            0..=4 => {
                ctx.ip = Some((*self.rng.pick(PUBLIC_IPS)).to_owned());
                ctx.session_id = None;
                let attempts = self.rng.range(1, 4);
                (
                    "Failed sign-in: wrong password",
                    Severity::Warning,
                    json!({"attempts": attempts, "method": "password"}),
                )
            }
            5..=7 => (
                "Signed in from a new device",
                Severity::Info,
                json!({"method": "password+totp"}),
            ),
            8 => (
                "API token created",
                Severity::Warning,
                json!({"scopes": ["entities:read"], "expires_in_days": 90}),
            ),
            _ => {
                ctx.ip = Some((*self.rng.pick(PUBLIC_IPS)).to_owned());
                ctx.session_id = None;
                (
                    "Account locked after 5 failed sign-ins",
                    Severity::Critical,
                    json!({"attempts": 5}),
                )
            }
        };
        let locked = roll == 9;
        self.out.push(WriteRequest {
            context: ctx,
            kind: WriteKind::Event(EventInput {
                operation: Some(Operation::Security),
                entity_type: Some("user".into()),
                entity_id: Some(ADMINS[who].id.into()),
                summary: Some(summary.into()),
                severity: Some(severity),
                metadata: Some(metadata),
                tags: Some(vec!["auth".into()]),
                ..EventInput::default()
            }),
        });
        if locked {
            let u = self
                .users
                .ents
                .iter()
                .position(|e| e.id == ADMINS[who].id)
                .expect("every actor has an account");
            self.tick_short();
            let op = self.update(T::User, u, json!({"status": "locked"}));
            self.single(SCHEDULER, Some("Automatic lockout policy"), None, op);
            self.tick();
            let op = self.update(T::User, u, json!({"status": "active"}));
            self.single(
                SUPER,
                Some("Identity confirmed by phone; account unlocked"),
                None,
                op,
            );
        }
        true
    }

    fn user_management(&mut self) -> bool {
        let who = *self
            .rng
            .pick(&[OPS, BILLING, SUPPORT, SUPPORT_REMOTE, WAREHOUSE]);
        let u = self
            .users
            .ents
            .iter()
            .position(|e| e.id == ADMINS[who].id)
            .expect("every actor has an account");
        let mfa = self.users.ents[u].data["mfa_enabled"] == true;
        let (patch, summary, reason) = if mfa {
            (
                json!({"mfa_enabled": false}),
                "Reset multi-factor authentication",
                "Lost phone; identity verified in person",
            )
        } else {
            (
                json!({"mfa_enabled": true}),
                "Enabled multi-factor authentication",
                "Security policy: MFA for every account",
            )
        };
        let correlation = self.correlation("user");
        let op = self.update(T::User, u, patch.clone());
        self.single(SUPER, Some(reason), Some(&correlation), op);
        self.tick_short();
        let context = self.ctx(SUPER, Some(reason), Some(&correlation));
        self.out.push(WriteRequest {
            context,
            kind: WriteKind::Event(EventInput {
                operation: Some(Operation::UserManagement),
                entity_type: Some("user".into()),
                entity_id: Some(ADMINS[who].id.into()),
                summary: Some(format!("{summary} for {}", ADMINS[who].name)),
                new_values: Some(patch),
                ..EventInput::default()
            }),
        });
        true
    }

    /// The scheduler at night: a backup, and issued invoices past their due date.
    fn nightly(&mut self) {
        let size_mb = 180 + self.day * 3 + self.rng.range(0, 5);
        let duration_s = self.rng.range(40, 95);
        self.event(SCHEDULER, None, EventInput {
            operation: Some(Operation::System),
            summary: Some("Nightly database backup completed".into()),
            metadata: Some(json!({"size_mb": size_mb, "duration_s": duration_s, "target": "s3://qcs-backups/nightly"})),
            tags: Some(vec!["backup".into()]),
            ..EventInput::default()
        });
        let now = chronicle_core::timefmt::format(self.clock);
        let overdue: Vec<usize> = self
            .open_invoices
            .iter()
            .copied()
            .filter(|&i| {
                let d = &self.invoices.ents[i].data;
                // Both sides are in the one fixed-width UTC format, so text order is time order.
                d["status"] == "issued"
                    && d["due_date"].as_str().is_some_and(|due| due < now.as_str())
            })
            .take(5)
            .collect();
        for i in overdue {
            self.tick_short();
            let op = self.update(T::Invoice, i, json!({"status": "overdue"}));
            self.single(SCHEDULER, Some("Payment terms exceeded"), None, op);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronicle_core::timefmt;

    fn start() -> OffsetDateTime {
        timefmt::parse("2026-03-01T00:00:00Z").unwrap()
    }

    #[test]
    fn the_demo_is_deterministic() {
        let a = generate(0.1, start());
        let b = generate(0.1, start());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn time_only_moves_forward_and_spans_the_fortnight() {
        let reqs = generate(1.0, start());
        let times: Vec<OffsetDateTime> = reqs.iter().map(|r| r.context.at.unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let days = (*times.last().unwrap() - times[0]).whole_days();
        assert!((DAYS - 3..=DAYS + 3).contains(&days), "spans {days} days");
    }

    #[test]
    fn the_demo_has_one_bulk_import_and_one_transaction() {
        let reqs = generate(1.0, start());
        let bulks = reqs
            .iter()
            .filter(|r| matches!(r.kind, WriteKind::Bulk { .. }))
            .count();
        let txns = reqs
            .iter()
            .filter(|r| matches!(r.kind, WriteKind::Transaction { .. }))
            .count();
        assert_eq!((bulks, txns), (1, 1));
        assert!(reqs.len() > 3_000, "{} requests", reqs.len());
    }
}
