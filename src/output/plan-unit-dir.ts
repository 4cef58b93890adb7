// The one comparison of a unit directory with what should be in it, used by every writer and
// checker of unit files: the supervisor's planner, the boot hook and `render --out`. Pure.

export interface UnitFile {
  name: string;
  content: string;
}

/** A file on disk as the comparison needs it: whether archy-quadlet wrote it (its header). */
export interface FileOnDisk {
  name: string;
  content: string;
  owned: boolean;
}

export type FileAction = 'create' | 'update' | 'unchanged' | 'remove';
export interface FileChange {
  name: string;
  action: FileAction;
  /** Content before the change (update, remove), for diffs. */
  before?: string;
  after?: string;
}

export interface UnitDirPlan {
  changes: FileChange[];
  /** Names we would write that hold a file archy-quadlet did not write: never overwritten. */
  conflicts: string[];
}

/** What it takes to make a directory hold exactly `files` among the files we own. */
export function planUnitDir(existing: FileOnDisk[], files: UnitFile[]): UnitDirPlan {
  const byName = new Map(existing.map((f) => [f.name, f]));
  const wanted = new Set(files.map((f) => f.name));
  const changes: FileChange[] = [];
  const conflicts: string[] = [];
  for (const f of files) {
    const old = byName.get(f.name);
    if (!old) changes.push({ name: f.name, action: 'create', after: f.content });
    else if (!old.owned) conflicts.push(f.name);
    else if (old.content === f.content) changes.push({ name: f.name, action: 'unchanged' });
    else changes.push({ name: f.name, action: 'update', before: old.content, after: f.content });
  }
  for (const old of existing) {
    if (old.owned && !wanted.has(old.name)) changes.push({ name: old.name, action: 'remove', before: old.content });
  }
  return { changes, conflicts };
}

/** Whether a plan writes anything (a removal alone needs no generator check). */
export function writesFiles(plan: UnitDirPlan): boolean {
  return plan.changes.some((c) => c.action === 'create' || c.action === 'update');
}

/** Whether a plan changes nothing at all. */
export function unchanged(plan: UnitDirPlan): boolean {
  return plan.conflicts.length === 0 && plan.changes.every((c) => c.action === 'unchanged');
}
