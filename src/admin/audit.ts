import type { AuditEntry, Controls } from '../limits'
import type { Logger, Metrics } from '../observe'

export interface AuditDeps {
  readonly log: Logger
  readonly metrics: Pick<Metrics, 'adminChanges'>
}

/** A change as its maker describes it; the time is added here. */
export type Change = Omit<AuditEntry, 'at'>

/**
 * Writes one change to the audit trail: one log line with `audit: true` (the record
 * that survives Redis), `tollgate_admin_changes_total{kind}`, and the kept list of
 * `GET /v1/audit`. A store that cannot take the entry does not undo the change: the log
 * line is still written, and the failure is logged beside it.
 */
export async function recordChange (deps: AuditDeps, controls: Controls, change: Change): Promise<AuditEntry> {
  const entry: AuditEntry = { at: new Date().toISOString(), ...change }
  deps.log.info({ audit: true, ...entry }, `audit: ${entry.kind} ${entry.action}`)
  deps.metrics.adminChanges.inc({ kind: entry.kind })
  try {
    await controls.appendAudit(entry)
  } catch (error) {
    deps.log.warn({ err: error, kind: entry.kind }, 'the audit entry was logged but not stored (GET /v1/audit will miss it)')
  }
  return entry
}
