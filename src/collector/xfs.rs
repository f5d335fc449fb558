//! `xfs`: per-filesystem XFS statistics from /sys/fs/xfs/<device>/stats/stats, as
//! node_exporter 1.5 (its names, and its reading of the `rw` line: `read_calls_total` is the
//! second field). A line that is missing or short counts as zeros, as procfs leaves them.

use std::collections::BTreeMap;

use super::{dir_names, read, Paths};
use crate::model::Family;

super::paths_collector!("xfs", true);

/// (metric, stats line, field index, help).
const METRICS: [(&str, &str, usize, &str); 39] = [
    ("allocation_btree_compares_total", "abt", 1, "Number of allocation B-tree compares for a filesystem."),
    ("allocation_btree_lookups_total", "abt", 0, "Number of allocation B-tree lookups for a filesystem."),
    ("allocation_btree_records_deleted_total", "abt", 3, "Number of allocation B-tree records deleted for a filesystem."),
    ("allocation_btree_records_inserted_total", "abt", 2, "Number of allocation B-tree records inserted for a filesystem."),
    ("block_map_btree_compares_total", "bmbt", 1, "Number of block map B-tree compares for a filesystem."),
    ("block_map_btree_lookups_total", "bmbt", 0, "Number of block map B-tree lookups for a filesystem."),
    ("block_map_btree_records_deleted_total", "bmbt", 3, "Number of block map B-tree records deleted for a filesystem."),
    ("block_map_btree_records_inserted_total", "bmbt", 2, "Number of block map B-tree records inserted for a filesystem."),
    ("block_mapping_extent_list_compares_total", "blk_map", 6, "Number of extent list compares for a filesystem."),
    ("block_mapping_extent_list_deletions_total", "blk_map", 4, "Number of extent list deletions for a filesystem."),
    ("block_mapping_extent_list_insertions_total", "blk_map", 3, "Number of extent list insertions for a filesystem."),
    ("block_mapping_extent_list_lookups_total", "blk_map", 5, "Number of extent list lookups for a filesystem."),
    ("block_mapping_reads_total", "blk_map", 0, "Number of block map for read operations for a filesystem."),
    ("block_mapping_unmaps_total", "blk_map", 2, "Number of block unmaps (deletes) for a filesystem."),
    ("block_mapping_writes_total", "blk_map", 1, "Number of block map for write operations for a filesystem."),
    ("directory_operation_create_total", "dir", 1, "Number of times a new directory entry was created for a filesystem."),
    ("directory_operation_getdents_total", "dir", 3, "Number of times the directory getdents operation was performed for a filesystem."),
    ("directory_operation_lookup_total", "dir", 0, "Number of file name directory lookups which miss the operating systems directory name lookup cache."),
    ("directory_operation_remove_total", "dir", 2, "Number of times an existing directory entry was created for a filesystem."),
    ("extent_allocation_blocks_allocated_total", "extent_alloc", 1, "Number of blocks allocated for a filesystem."),
    ("extent_allocation_blocks_freed_total", "extent_alloc", 3, "Number of blocks freed for a filesystem."),
    ("extent_allocation_extents_allocated_total", "extent_alloc", 0, "Number of extents allocated for a filesystem."),
    ("extent_allocation_extents_freed_total", "extent_alloc", 2, "Number of extents freed for a filesystem."),
    ("inode_operation_attempts_total", "ig", 0, "Number of times the OS looked for an XFS inode in the inode cache."),
    ("inode_operation_attribute_changes_total", "ig", 6, "Number of times the OS explicitly changed the attributes of an XFS inode."),
    ("inode_operation_duplicates_total", "ig", 4, "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process."),
    ("inode_operation_found_total", "ig", 1, "Number of times the OS looked for and found an XFS inode in the inode cache."),
    ("inode_operation_missed_total", "ig", 3, "Number of times the OS looked for an XFS inode in the cache, but did not find it."),
    ("inode_operation_reclaims_total", "ig", 5, "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose."),
    ("inode_operation_recycled_total", "ig", 2, "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled."),
    ("read_calls_total", "rw", 1, "Number of read(2) system calls made to files in a filesystem."),
    ("vnode_active_total", "vnodes", 0, "Number of vnodes not on free lists for a filesystem."),
    ("vnode_allocate_total", "vnodes", 1, "Number of times vn_alloc called for a filesystem."),
    ("vnode_get_total", "vnodes", 2, "Number of times vn_get called for a filesystem."),
    ("vnode_hold_total", "vnodes", 3, "Number of times vn_hold called for a filesystem."),
    ("vnode_reclaim_total", "vnodes", 5, "Number of times vn_reclaim called for a filesystem."),
    ("vnode_release_total", "vnodes", 4, "Number of times vn_rele called for a filesystem."),
    ("vnode_remove_total", "vnodes", 6, "Number of times vn_remove called for a filesystem."),
    ("write_calls_total", "rw", 0, "Number of write(2) system calls made to files in a filesystem."),
];

/// The stats file as line label → integer fields (unparsable fields end the line).
pub fn parse(text: &str) -> BTreeMap<&str, Vec<u64>> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let label = f.next()?;
            Some((label, f.map_while(|v| v.parse().ok()).collect()))
        })
        .collect()
}

pub fn families(devices: &[(String, BTreeMap<&str, Vec<u64>>)]) -> Vec<Family> {
    METRICS
        .iter()
        .map(|(name, line, i, help)| {
            let mut f = Family::counter(format!("node_xfs_{name}"), *help);
            for (dev, stats) in devices {
                let v = stats
                    .get(line)
                    .and_then(|v| v.get(*i))
                    .copied()
                    .unwrap_or(0);
                f.add(&[("device", dev)], v as f64);
            }
            f
        })
        .collect()
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let base = paths.sys("fs/xfs");
    let mut texts = Vec::new();
    for dev in dir_names(&base)? {
        let path = base.join(&dev).join("stats/stats");
        // `fs/xfs/stats` is the global file's directory, not a device.
        if dev == "stats" || !path.exists() {
            continue;
        }
        texts.push((dev, read(&path)?));
    }
    let devices: Vec<(String, BTreeMap<&str, Vec<u64>>)> =
        texts.iter().map(|(d, t)| (d.clone(), parse(t))).collect();
    out.extend(families(&devices));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_missing_lines() {
        let s = parse("rw 10 20\nig 1 2 3 4 5 6 7\nbogus x\n");
        let f = families(&[("sda".into(), s)]);
        let get = |n: &str| f.iter().find(|x| x.name == n).unwrap().samples[0].value;
        assert_eq!(get("node_xfs_read_calls_total"), 20.0);
        assert_eq!(get("node_xfs_write_calls_total"), 10.0);
        assert_eq!(get("node_xfs_inode_operation_duplicates_total"), 5.0);
        assert_eq!(get("node_xfs_vnode_active_total"), 0.0);
    }
}
