#pragma once
// Runs work on a thread of its own with a stack of a given size, and waits for it.
// libpg_query turns parse trees into protobuf recursively without a depth check: a left-deep
// tree the parser itself accepts (1+1+1+..., a long UNION ALL chain) overflowed an 8 MB stack
// at some 48,000 levels (about 175 bytes a level), so deeply nested texts are parsed on a
// stack sized for them.
#include <cstddef>
#include <functional>

namespace sg::pg::route {

// False (work not run) when the thread could not be started.
bool runWithStack(size_t stack_bytes, const std::function<void()>& work);

}  // namespace sg::pg::route
