//! The [`Engine`]: preview, request, approve, run, pause, resume, stop and verify rollbacks.

use crate::error::EngineError;
use crate::facts;
use crate::policy::ApprovalPolicy;
use crate::record::*;
use crate::target::resolve;
use crate::{CONTROL_TYPE, PLAN_TYPE, ROLLBACK_TYPE};
use chronicle_core::rollback::Plan;
use chronicle_core::schema::Schema;
use chronicle_core::write::{EntityOp, OpError};
use chronicle_core::{RequestContext, timefmt};
use chronicle_store::writer::system_context as on_behalf;
use chronicle_store::{Op, Store, Writer};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Default operations per stage in staged mode.
pub const DEFAULT_STAGE_SIZE: usize = 100;
/// How often a step retries when another writer changed the record in between.
const MAX_RETRIES: usize = 16;

/// A plan with the approval it would need. Computing it writes nothing.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Preview {
    #[serde(flatten)]
    pub plan: Plan,
    pub requires_approval: bool,
    pub required_approvals: u32,
    pub approval_reasons: Vec<String>,
}

pub struct Engine {
    /// Every write goes through it (redaction, stream wake, metrics); reads go to its store.
    writer: Writer,
    store: Arc<dyn Store>,
    schema: Arc<Schema>,
    policy: ApprovalPolicy,
    /// Rollbacks this process is running, so it never runs one twice.
    active: Mutex<HashSet<Uuid>>,
    /// Background runners, so that callers can wait for one (see [`Engine::wait`]).
    tasks: Mutex<HashMap<Uuid, tokio::task::JoinHandle<()>>>,
}

impl Engine {
    pub fn new(writer: Writer, schema: Arc<Schema>, policy: ApprovalPolicy) -> Arc<Engine> {
        Arc::new(Engine {
            store: writer.store().clone(),
            writer,
            schema,
            policy,
            active: Mutex::new(HashSet::new()),
            tasks: Mutex::new(HashMap::new()),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    async fn plan(&self, req: &RollbackRequest) -> Result<Plan, EngineError> {
        if let Some(r) = &req.reason {
            chronicle_core::limits::check_text(r)
                .map_err(|m| EngineError::invalid("/reason", m))?;
        }
        if req.stage_size == Some(0) {
            return Err(EngineError::invalid("/stage_size", "must be at least 1"));
        }
        let goal = resolve(self.store.as_ref(), &self.schema, &req.target).await?;
        facts::plan(self.store.as_ref(), &self.schema, &goal, req.strategy).await
    }

    pub async fn preview(&self, req: &RollbackRequest) -> Result<Preview, EngineError> {
        let plan = self.plan(req).await?;
        let (required_approvals, approval_reasons) = self.policy.required(&plan, &self.schema);
        Ok(Preview {
            plan,
            requires_approval: required_approvals > 0,
            required_approvals,
            approval_reasons,
        })
    }

    /// Records a rollback request and, when no approval is needed, runs it: to the end for
    /// atomic mode, in the background for staged mode.
    pub async fn request(
        self: &Arc<Self>,
        req: RollbackRequest,
        ctx: &RequestContext,
    ) -> Result<RollbackRecord, EngineError> {
        let plan = self.plan(&req).await?;
        if !plan.feasible {
            return Err(EngineError::Conflict(Box::new(plan)));
        }
        let (required, reasons) = self.policy.required(&plan, &self.schema);
        let total = plan.operations.len();
        let record = RollbackRecord {
            id: Uuid::now_v7(),
            status: if required > 0 {
                Status::AwaitingApproval
            } else {
                Status::Running
            },
            stage_size: match req.mode {
                Mode::Atomic => total.max(1),
                Mode::Staged => req.stage_size.unwrap_or(DEFAULT_STAGE_SIZE),
            },
            target: req.target,
            strategy: req.strategy,
            mode: req.mode,
            reason: req.reason,
            requested_by: ctx.actor.clone(),
            requested_at: timefmt::now(),
            required_approvals: required,
            approval_reasons: reasons,
            approvals: Vec::new(),
            plan,
            progress: Progress {
                done: 0,
                total,
                stages_done: 0,
            },
            result: None,
            verification: None,
            version: 0,
        };
        let record = self.create_record(record, ctx).await?;
        self.start_if_running(record).await
    }

    async fn start_if_running(
        self: &Arc<Self>,
        record: RollbackRecord,
    ) -> Result<RollbackRecord, EngineError> {
        if record.status != Status::Running {
            return Ok(record);
        }
        match record.mode {
            Mode::Atomic => self.run(record.id).await,
            Mode::Staged => {
                self.spawn(record.id);
                Ok(record)
            }
        }
    }

    /// The record with its plan, opened once for the answer (the steps that change the record
    /// never read the plan).
    async fn with_plan(&self, mut record: RollbackRecord) -> Result<RollbackRecord, EngineError> {
        record.plan = self.load_plan(record.id).await?;
        Ok(record)
    }

    /// Runs a rollback in a background task (at most one per rollback in this process).
    pub fn spawn(self: &Arc<Self>, id: Uuid) {
        let engine = self.clone();
        let handle = tokio::spawn(async move {
            if let Err(e) = engine.run(id).await {
                tracing::error!(rollback = %id, error = %e, "rollback runner stopped");
            }
        });
        self.tasks.lock().expect("not poisoned").insert(id, handle);
    }

    /// Waits for this process's background runner of the rollback, if there is one, and
    /// returns the record as it then is.
    pub async fn wait(&self, id: Uuid) -> Result<RollbackRecord, EngineError> {
        let handle = self.tasks.lock().expect("not poisoned").remove(&id);
        if let Some(h) = handle {
            let _ = h.await;
        }
        self.get(id).await
    }

    pub async fn get(&self, id: Uuid) -> Result<RollbackRecord, EngineError> {
        let mut record = self.get_bare(id).await?;
        record.plan = self.load_plan(id).await?;
        Ok(record)
    }

    /// The record without its plan.
    async fn get_bare(&self, id: Uuid) -> Result<RollbackRecord, EngineError> {
        let state = self
            .store
            .entity(ROLLBACK_TYPE, &id.to_string())
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("rollback {id}")))?;
        let mut record: RollbackRecord = serde_json::from_value(state.data).map_err(|e| {
            EngineError::Store(chronicle_store::StoreError::Corrupt(format!(
                "rollback record {id}: {e}"
            )))
        })?;
        record.version = state.version;
        Ok(record)
    }

    /// The plan, kept apart from the record so that each stage rewrites only the small record.
    async fn load_plan(&self, id: Uuid) -> Result<Plan, EngineError> {
        let corrupt = |what: String| EngineError::Store(chronicle_store::StoreError::Corrupt(what));
        let state = self
            .store
            .entity(PLAN_TYPE, &id.to_string())
            .await?
            .ok_or_else(|| corrupt(format!("rollback {id} has no plan")))?;
        let mut plan: Plan = serde_json::from_value(state.data)
            .map_err(|e| corrupt(format!("rollback plan {id}: {e}")))?;
        embedded_states(self.store.as_ref(), &mut plan, Direction::Open).await?;
        Ok(plan)
    }

    /// Rollbacks ordered by id (UUIDv7: oldest first), after `after`.
    pub async fn list(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<RollbackRecord>, EngineError> {
        let after = after.map(|u| u.to_string());
        let states = self
            .store
            .list_entities(ROLLBACK_TYPE, after.as_deref(), limit)
            .await?;
        let mut out = Vec::with_capacity(states.len());
        for s in states {
            let mut r: RollbackRecord = serde_json::from_value(s.data).map_err(|e| {
                EngineError::Store(chronicle_store::StoreError::Corrupt(format!(
                    "rollback record: {e}"
                )))
            })?;
            r.version = s.version;
            r.plan = self.load_plan(r.id).await?;
            out.push(r);
        }
        Ok(out)
    }

    /// Approves or rejects. Only roles `approver` and `admin`, never the requester, once per
    /// approver.
    pub async fn decide(
        self: &Arc<Self>,
        id: Uuid,
        ctx: &RequestContext,
        approve: bool,
        justification: String,
    ) -> Result<RollbackRecord, EngineError> {
        chronicle_core::limits::check_text(&justification)
            .map_err(|m| EngineError::invalid("/justification", m))?;
        if justification.trim().is_empty() {
            return Err(EngineError::invalid(
                "/justification",
                "a justification is required",
            ));
        }
        if !matches!(ctx.actor.role.as_deref(), Some("approver" | "admin")) {
            return Err(EngineError::Forbidden(
                "only the approver and admin roles may approve or reject rollbacks".into(),
            ));
        }
        let Some(who) = ctx.actor.id.clone() else {
            return Err(EngineError::Forbidden(
                "an approver must be identified (X-Actor-Id)".into(),
            ));
        };
        let record = self
            .transition(id, ctx, |r| {
                if r.status != Status::AwaitingApproval {
                    return Err(EngineError::WrongState(format!(
                        "rollback is {:?}, not awaiting approval",
                        r.status
                    )));
                }
                if r.requested_by.id.as_deref() == Some(who.as_str()) {
                    return Err(EngineError::Forbidden(
                        "the requester cannot approve their own rollback".into(),
                    ));
                }
                if r.approvals
                    .iter()
                    .any(|a| a.actor.id.as_deref() == Some(who.as_str()))
                {
                    return Err(EngineError::WrongState(format!(
                        "{who} has already decided on this rollback"
                    )));
                }
                r.approvals.push(Approval {
                    actor: ctx.actor.clone(),
                    approved: approve,
                    justification: justification.clone(),
                    at: timefmt::now(),
                });
                let approvals = r.approvals.iter().filter(|a| a.approved).count() as u32;
                if !approve {
                    r.status = Status::Rejected;
                } else if approvals >= r.required_approvals {
                    r.status = Status::Running;
                }
                Ok(())
            })
            .await?;
        // An atomic run answers with its plan already; any other answer gets it here.
        let runs_now = record.status == Status::Running && record.mode == Mode::Atomic;
        let record = self.start_if_running(record).await?;
        if runs_now {
            Ok(record)
        } else {
            self.with_plan(record).await
        }
    }

    pub async fn pause(
        &self,
        id: Uuid,
        ctx: &RequestContext,
    ) -> Result<RollbackRecord, EngineError> {
        // A running stage runner rewrites the record after every stage and would win every
        // race for it: ask it to stop first, through a record of its own it reads between
        // stages, then change the status (the runner may already have done so). A request the
        // status refuses is refused before anything is written.
        let pausable = |r: &mut RollbackRecord| match r.status {
            Status::Running | Status::Paused => {
                r.status = Status::Paused;
                Ok(())
            }
            s => Err(EngineError::WrongState(format!(
                "only a running rollback can be paused; it is {s:?}"
            ))),
        };
        pausable(&mut self.get_bare(id).await?)?;
        self.set_control(id, ctx, Some("pause")).await?;
        let record = self.transition(id, ctx, pausable).await?;
        self.with_plan(record).await
    }

    pub async fn resume(
        self: &Arc<Self>,
        id: Uuid,
        ctx: &RequestContext,
    ) -> Result<RollbackRecord, EngineError> {
        let resumable = |r: &mut RollbackRecord| match r.status {
            Status::Paused => {
                r.status = Status::Running;
                Ok(())
            }
            s => Err(EngineError::WrongState(format!(
                "only a paused rollback can be resumed; it is {s:?}"
            ))),
        };
        // Refused before anything is written, as pause is.
        resumable(&mut self.get_bare(id).await?)?;
        self.set_control(id, ctx, None).await?;
        let record = self.transition(id, ctx, resumable).await?;
        self.spawn(id);
        self.with_plan(record).await
    }

    /// Emergency stop: no further stage starts. Stages already committed stay committed (and
    /// can themselves be rolled back with target `rollback`).
    pub async fn stop(
        &self,
        id: Uuid,
        ctx: &RequestContext,
    ) -> Result<RollbackRecord, EngineError> {
        let current = self.get_bare(id).await?;
        if current.status.is_final() {
            return Err(EngineError::WrongState(format!(
                "rollback already ended: {:?}",
                current.status
            )));
        }
        self.set_control(id, ctx, Some("stop")).await?;
        let record = self
            .transition(id, ctx, |r| {
                if r.status.is_final() && r.status != Status::Stopped {
                    return Err(EngineError::WrongState(format!(
                        "rollback already ended: {:?}",
                        r.status
                    )));
                }
                r.status = Status::Stopped;
                Ok(())
            })
            .await?;
        self.with_plan(record).await
    }

    /// Records a request to the stage runner (`pause`, `stop`) or clears it.
    async fn set_control(
        &self,
        id: Uuid,
        ctx: &RequestContext,
        request: Option<&str>,
    ) -> Result<(), EngineError> {
        let sys = on_behalf(&RequestContext {
            rollback_id: Some(id),
            ..ctx.clone()
        });
        let op = EntityOp::Replace {
            entity_type: CONTROL_TYPE.into(),
            id: id.to_string(),
            data: serde_json::json!({ "request": request }),
            expected_version: None,
        };
        match self.writer.apply(sys, Op::record(op, Vec::new())).await? {
            Ok(_) => Ok(()),
            Err(e) => Err(EngineError::Store(
                chronicle_store::StoreError::internal_msg(format!(
                    "cannot record the request: {e:?}"
                )),
            )),
        }
    }

    /// The pending request to the stage runner, if any.
    async fn control(&self, id: Uuid) -> Result<Option<String>, EngineError> {
        let state = self.store.entity(CONTROL_TYPE, &id.to_string()).await?;
        Ok(state.and_then(|s| s.data["request"].as_str().map(str::to_owned)))
    }

    /// Restarts what a previous process left running, and verifies what it completed without
    /// verifying. Call once at start-up.
    pub async fn resume_interrupted(self: &Arc<Self>) -> Result<usize, EngineError> {
        let mut after = None;
        let mut resumed = 0;
        loop {
            let page = self.list(after, 200).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for r in page {
                if r.status == Status::Running
                    || (r.status == Status::Completed && r.verification.is_none())
                {
                    resumed += 1;
                    self.spawn(r.id);
                }
            }
        }
        Ok(resumed)
    }

    /// Runs the rollback's remaining stages to the end (or until it is paused or stopped),
    /// then verifies. Safe to call concurrently from several processes: every stage commits
    /// together with the record at the version it read.
    pub async fn run(self: &Arc<Self>, id: Uuid) -> Result<RollbackRecord, EngineError> {
        if !self.active.lock().expect("not poisoned").insert(id) {
            return self.get(id).await;
        }
        let result = self.run_inner(id).await;
        self.active.lock().expect("not poisoned").remove(&id);
        result
    }

    async fn run_inner(&self, id: Uuid) -> Result<RollbackRecord, EngineError> {
        let mut retries = 0;
        // The plan never changes: read and convert it once, then only the small record per
        // stage.
        let plan = self.load_plan(id).await?;
        let all_ops = plan.entity_ops();
        loop {
            let mut record = self.get_bare(id).await?;
            record.plan = Plan::default();
            if record.status == Status::Completed && record.verification.is_none() {
                let mut verified = self.verify(record, &plan).await?;
                verified.plan = plan;
                return Ok(verified);
            }
            if record.status != Status::Running {
                record.plan = plan;
                return Ok(record);
            }
            let ctx = system_context(&record);
            // A pause or stop asked for between stages: apply it and end this run.
            if let Some(request) = self.control(id).await? {
                let to = if request == "stop" {
                    Status::Stopped
                } else {
                    Status::Paused
                };
                let mut done = self
                    .transition(id, &ctx, |r| {
                        if r.status == Status::Running {
                            r.status = to;
                        }
                        Ok(())
                    })
                    .await?;
                done.plan = plan;
                return Ok(done);
            }
            let start = record.progress.done;
            let end = (start + record.stage_size.max(1)).min(record.progress.total);
            let mut ops: Vec<Op> = all_ops[start..end].iter().cloned().map(Op::from).collect();
            record.progress.done = end;
            record.progress.stages_done += 1;
            if end == record.progress.total {
                record.status = Status::Completed;
                record.result = Some(RollbackResult {
                    entities_changed: end,
                    error: None,
                    errors: Vec::new(),
                });
            }
            ops.push(record_write(&record)?);
            let n = ops.len();
            let chronicle_store::Batch {
                results, committed, ..
            } = self.writer.transaction(ctx.clone(), ops).await?;
            if committed {
                retries = 0;
                continue;
            }
            let failed = results.iter().position(|r| r.is_err()).unwrap_or(n - 1);
            if failed == n - 1 {
                // The record changed under us (paused, stopped, or another node ran the stage):
                // read it again and carry on from what it says.
                retries += 1;
                if retries > MAX_RETRIES {
                    return Err(EngineError::WrongState(
                        "the rollback record keeps changing; giving up this run".into(),
                    ));
                }
                continue;
            }
            // An entity changed since the plan was made: stop here, visibly, never half-silently.
            let op = &plan.operations[start + failed];
            let errors = match &results[failed] {
                Err(OpError::Invalid(errors)) => errors.clone(),
                _ => Vec::new(),
            };
            let why = match &results[failed] {
                Err(OpError::Invalid(errors)) => {
                    let each: Vec<String> = errors
                        .iter()
                        .map(|e| format!("{} {}", e.pointer, e.message))
                        .collect();
                    format!("the schema refuses its state ({})", each.join("; "))
                }
                Err(OpError::VersionConflict { expected, actual }) => format!(
                    "it changed since the plan was made (version {actual}, plan expected {expected})"
                ),
                Err(e) => e.to_string(),
                Ok(_) => "unknown".into(),
            };
            let error = format!(
                "stage {} failed at {} {}: {why}; {start} of {} operations were applied",
                record.progress.stages_done, op.entity_type, op.id, record.progress.total
            );
            let mut ended = self
                .transition(id, &ctx, |r| {
                    r.status = Status::Failed;
                    r.result = Some(RollbackResult {
                        entities_changed: r.progress.done,
                        error: Some(error.clone()),
                        errors: errors.clone(),
                    });
                    Ok(())
                })
                .await?;
            ended.plan = plan;
            return Ok(ended);
        }
    }

    /// Checks every entity the rollback touched against what replaying its history says
    /// (see [`crate::verify`]) and stores the result.
    async fn verify(
        &self,
        record: RollbackRecord,
        plan: &Plan,
    ) -> Result<RollbackRecord, EngineError> {
        let verification =
            crate::verify::verify(self.store.as_ref(), &self.schema, &record, plan).await?;
        let ctx = system_context(&record);
        self.transition(record.id, &ctx, |r| {
            r.verification = Some(verification.clone());
            Ok(())
        })
        .await
    }

    async fn create_record(
        &self,
        mut record: RollbackRecord,
        ctx: &RequestContext,
    ) -> Result<RollbackRecord, EngineError> {
        let sys = on_behalf(&RequestContext {
            rollback_id: Some(record.id),
            ..ctx.clone()
        });
        // The plan is kept with the entity states it embeds sealed: no plaintext of a
        // sensitive field in the `_rollback_plan` record or its ledger entry.
        let mut kept = record.plan.clone();
        embedded_states(self.store.as_ref(), &mut kept, Direction::Seal).await?;
        let plan = EntityOp::Create {
            entity_type: PLAN_TYPE.into(),
            id: Some(record.id.to_string()),
            data: serde_json::to_value(&kept).expect("plans serialize"),
        };
        let EntityOp::Replace { data, .. } = record_op(&record)? else {
            unreachable!("record_op replaces")
        };
        let op = EntityOp::Create {
            entity_type: ROLLBACK_TYPE.into(),
            id: Some(record.id.to_string()),
            data,
        };
        // The plan's states are client data already redacted when written, and sealed
        // envelopes besides: it carries no free text of its own.
        let ops = vec![
            Op::record(plan, Vec::new()),
            Op::record(op, record.free_text()),
        ];
        let batch = self.writer.transaction(sys, ops).await?;
        if !batch.committed {
            return Err(EngineError::Store(
                chronicle_store::StoreError::internal_msg(format!(
                    "cannot record the rollback: {:?}",
                    batch.results.into_iter().find_map(|r| r.err())
                )),
            ));
        }
        if let Some(Ok(out)) = batch.results.last() {
            record.version = out.entity.version;
        }
        Ok(record)
    }

    /// Reads the record (without its plan), applies `change`, and writes it back at the
    /// version read, retrying when another writer got there first. Returns the record without
    /// its plan.
    async fn transition(
        &self,
        id: Uuid,
        ctx: &RequestContext,
        change: impl Fn(&mut RollbackRecord) -> Result<(), EngineError>,
    ) -> Result<RollbackRecord, EngineError> {
        for attempt in 0..MAX_RETRIES {
            if attempt > 0 {
                // Another writer (a stage runner finishing its stage) got there first.
                tokio::time::sleep(std::time::Duration::from_millis(5 * attempt as u64)).await;
            }
            // The record alone: no step changes the plan, so it is never read (or opened) here.
            let mut record = self.get_bare(id).await?;
            change(&mut record)?;
            let sys = on_behalf(&RequestContext {
                rollback_id: Some(id),
                ..ctx.clone()
            });
            match self.writer.apply(sys, record_write(&record)?).await? {
                Ok(out) => {
                    record.version = out.entity.version;
                    return Ok(record);
                }
                Err(OpError::VersionConflict { .. }) => continue,
                Err(e) => {
                    return Err(EngineError::Store(
                        chronicle_store::StoreError::internal_msg(format!(
                            "cannot update the rollback record: {e}"
                        )),
                    ));
                }
            }
        }
        Err(EngineError::WrongState(
            "the rollback record keeps changing; try again".into(),
        ))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Seal,
    Open,
}

/// Seals (to keep) or opens (once read) the entity states a plan embeds: each operation's
/// `before` and `after`, and the overwritten values.
async fn embedded_states(
    store: &dyn Store,
    plan: &mut Plan,
    direction: Direction,
) -> Result<(), EngineError> {
    let mut states = Vec::new();
    for op in &plan.operations {
        for data in [&op.before, &op.after].into_iter().flatten() {
            states.push((op.entity_type.clone(), op.id.clone(), data.clone()));
        }
    }
    // An overwritten value is a field (or the whole data, at the root): as a state of one field.
    let top =
        |path: &str| chronicle_core::diff::parse_pointer(path).and_then(|t| t.into_iter().next());
    for o in &plan.overwritten {
        for v in [&o.current, &o.restored].into_iter().flatten() {
            let data = match top(&o.path) {
                Some(field) => serde_json::json!({ field: v }),
                None => v.clone(),
            };
            states.push((o.entity_type.clone(), o.id.clone(), data));
        }
    }
    if states.is_empty() {
        return Ok(());
    }
    let done = match direction {
        Direction::Seal => store.seal_states(states).await?,
        Direction::Open => store.open_states(states).await?,
    };
    let mut done = done.into_iter();
    for op in &mut plan.operations {
        for data in [&mut op.before, &mut op.after].into_iter().flatten() {
            if let Some(d) = done.next() {
                *data = d;
            }
        }
    }
    for o in &mut plan.overwritten {
        let field = top(&o.path);
        for v in [&mut o.current, &mut o.restored].into_iter().flatten() {
            if let Some(mut d) = done.next() {
                *v = match &field {
                    Some(f) => d
                        .get_mut(f.as_str())
                        .map(serde_json::Value::take)
                        .unwrap_or_default(),
                    None => d,
                };
            }
        }
    }
    Ok(())
}

/// The write that stores the record, guarded by the version it was read at.
fn record_op(record: &RollbackRecord) -> Result<EntityOp, EngineError> {
    let mut data = serde_json::to_value(record).map_err(|e| {
        EngineError::Store(chronicle_store::StoreError::internal_msg(e.to_string()))
    })?;
    if let Some(m) = data.as_object_mut() {
        // The version lives on the entity itself, the plan in its own `_rollback_plan` entity.
        m.remove("version");
        m.remove("plan");
    }
    Ok(EntityOp::Replace {
        entity_type: ROLLBACK_TYPE.into(),
        id: record.id.to_string(),
        data,
        expected_version: Some(record.version),
    })
}

/// [`record_op`] as a write, with the record's client text marked for redaction.
fn record_write(record: &RollbackRecord) -> Result<Op, EngineError> {
    Ok(Op::record(record_op(record)?, record.free_text()))
}

/// The context of the rollback's own writes: the requester's identity, the rollback's id.
fn system_context(record: &RollbackRecord) -> RequestContext {
    on_behalf(&RequestContext {
        actor: record.requested_by.clone(),
        reason: Some(match &record.reason {
            Some(r) => format!("rollback {}: {r}", record.id),
            None => format!("rollback {}", record.id),
        }),
        rollback_id: Some(record.id),
        ..RequestContext::default()
    })
}
