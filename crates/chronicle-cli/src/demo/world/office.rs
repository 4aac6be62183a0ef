//! The working day in the office: invoices, customer records, settings, configuration,
//! security and account events, and the scheduler's nightly jobs.

use super::*;

impl World {
    pub(super) fn invoice_create(&mut self) -> bool {
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

    pub(super) fn invoice_progress(&mut self) -> bool {
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

    pub(super) fn invoice_correction(&mut self) -> bool {
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

    pub(super) fn invoice_read(&mut self) -> bool {
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

    pub(super) fn customer_edit(&mut self) -> bool {
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

    pub(super) fn customer_signup(&mut self) -> bool {
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

    pub(super) fn package_delete(&mut self) -> bool {
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

    pub(super) fn package_restore(&mut self) -> bool {
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

    pub(super) fn shipment_cancel(&mut self) -> bool {
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

    pub(super) fn shipment_restore(&mut self) -> bool {
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

    pub(super) fn setting_change(&mut self) -> bool {
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

    pub(super) fn config_event(&mut self) -> bool {
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

    pub(super) fn security_event(&mut self) -> bool {
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

    pub(super) fn user_management(&mut self) -> bool {
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
    pub(super) fn nightly(&mut self) {
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
