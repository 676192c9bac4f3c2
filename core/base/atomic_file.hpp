// All-or-nothing files: every record, checkpoint, model and cache the harness
// writes goes through write_file_atomically, so a kill, a full disk or a
// second process writing the same file never leaves a half-written file
// under its real name.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace ldae {

// A temporary name beside `path`, unique per host, process and call:
// "<path>.tmp.<host>.<pid>.<n>" (two processes, even on two hosts sharing a
// file system, never write the same temporary file).
std::string temp_name(const std::string& path);
// Remove the temporaries (temp_name) in `dir` (not below it) that a process
// of this host left when it was killed (its pid no longer exists). Other
// hosts' temporaries are left alone: their pids mean nothing here. Returns
// how many were removed; a missing folder is none.
size_t remove_stale_temporaries(const std::string& dir);

// Write `path` atomically: `write(tmp)` fills a temporary file beside it,
// which is flushed to disk (fsync, checked), renamed over `path`, and the
// folder entry flushed. On any failure the temporary file is removed and
// `path` is left as it was. The folder is created if missing.
// expected_bytes > 0: the free space is checked before writing (see
// require_free_space). Errors: InputError (exit 2) when the file system is
// full, over quota, read-only or past the file size limit, naming the path,
// the free space and what to do; otherwise what `write` threw.
void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string& tmp)>& write,
                           uint64_t expected_bytes = 0);

// Content (text or bytes), written atomically as above.
void write_text_atomically(const std::string& path, const std::string& content,
                           uint64_t expected_bytes = 0);

// Throws InputError naming `what` and the folder when the file system
// holding `dir` has less than `bytes` plus a 16 MiB margin available.
void require_free_space(const std::string& dir, uint64_t bytes, const std::string& what);

// Bytes available to this user on the file system holding `path` (its
// nearest existing parent); UINT64_MAX when unknown.
uint64_t free_bytes(const std::string& path);

}  // namespace ldae
