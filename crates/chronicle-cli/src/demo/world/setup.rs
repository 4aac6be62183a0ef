//! Day zero: accounts, warehouses and settings, the legacy CRM import (one bulk request),
//! and a corporate onboarding done as one transaction.

use super::*;

impl World {
    pub(super) fn setup(&mut self) {
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

    pub(super) fn customer_data(&mut self, n: usize) -> Value {
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

    pub(super) fn bulk_import(&mut self) {
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
    pub(super) fn onboarding_transaction(&mut self) {
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
}
