import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

/**
 * Free space that counts as room to write again after the disk was found
 * full: dozens of commits (one call's update writes two or three 16 KiB
 * pages to the WAL), so that readiness does not come back for a disk that
 * fills again with the next group.
 */
export const ROOM_TO_WRITE_BYTES = 1024 * 1024;

/**
 * For readiness after a write failed with SQLITE_FULL: throws that error
 * again while the filesystem of `path` has less than ROOM_TO_WRITE_BYTES
 * free for this process. The free space is asked of the filesystem rather
 * than found by writing, because the WAL may still hold room a refused
 * transaction took, where a small test commit would succeed while the
 * next real group does not.
 */
export function checkDiskRoom(path: string): void {
  const { bavail, bsize } = statfsSync(dirname(path));
  const free = bavail * bsize;
  if (free < ROOM_TO_WRITE_BYTES) {
    throw new Database.SqliteError(`database or disk is full: ${free} bytes free beside ${path}, ${ROOM_TO_WRITE_BYTES} needed to write again`, "SQLITE_FULL");
  }
}
