// phmalloc/allocator.hpp -- C++17 allocators over phmalloc heaps.
//
// ph::shared_allocator<T>  for containers that live inside a shared heap
//                          and are used by every process that attached it.
// ph::construct_root<T>    makes a T in a heap and publishes it under a
//                          root key; ph::root<T> finds it in any process.
// ph::heap_resource        a std::pmr::memory_resource on a heap, for
//                          containers used within ONE process.
//
// Header-only, over the ph_heap_* calls of <phmalloc.h> (prefixed ph_ in
// every build).  Link with -lphmalloc.
//
// Why shared_allocator holds the heap's base address and nothing else: the
// allocator is stored inside the container, so in a shared heap it is read
// by every process.  A ph_heap_t * handle or a vtable pointer would be an
// address in one process only (DESIGN.md, "Trust and security").  The base
// address is the same everywhere because ph_heap_open maps a joined heap at
// the address recorded in it; allocate asks the calling process for the
// heap at that address (ph_heap_of).
//
// Why std::pmr containers cannot be shared: a polymorphic_allocator holds a
// memory_resource *, a process-local object whose vtable is in this
// process's copy of the code.  Another process following either pointer
// reads garbage.  Use heap_resource for one process's data (for example a
// job's data on a private heap, dropped in bulk with ph_heap_reset), and
// shared_allocator for data in a shared heap.
//
// Errors: allocate throws std::bad_alloc when the heap is full,
// std::bad_array_new_length when the size overflows, and
// ph::heap_not_attached (a std::bad_alloc) when the calling process has not
// attached the heap.
// construct_root and root throw std::system_error for a bad root key or a
// damaged root; root returns nullptr for an empty key.  A free into a heap
// this process has not attached aborts, like every bad free in phmalloc.
//
// Containers are not synchronised: processes that use one container at the
// same time need their own lock (a PTHREAD_PROCESS_SHARED, ROBUST mutex
// kept in the heap).  A process killed while it updates a container leaves
// the heap sound (ph_heap_recover, ph_heap_check) but the container may be
// half updated: throw it away, or reset the heap.  Every process must use
// the same container types built with the same standard library.
#ifndef PHMALLOC_ALLOCATOR_HPP
#define PHMALLOC_ALLOCATOR_HPP

#if __cplusplus < 201703L
#error "<phmalloc/allocator.hpp> needs C++17 or later"
#endif

// In C++, the function ph_heap_stats hides the struct ph_heap_stats of the
// same name (C has separate tag names), which -Wshadow reports.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
#include <phmalloc.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <cerrno>
#include <cstddef>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <memory_resource>
#include <new>
#include <scoped_allocator>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ph {

// Thrown by allocate when the calling process has not attached the heap.
class heap_not_attached : public std::bad_alloc {
public:
	const char *what() const noexcept override
	{
		return "phmalloc: the heap of this allocator is not attached "
		       "in this process";
	}
};

namespace detail {

// ph_heap_malloc aligns like malloc; only stricter alignments need the
// aligned call, which costs a trip to the heap's lock.
inline constexpr std::size_t malloc_align = alignof(std::max_align_t);

inline void *heap_alloc(ph_heap_t *h, std::size_t size, std::size_t align)
    noexcept
{
	return align <= malloc_align ? ph_heap_malloc(h, size)
	                             : ph_heap_aligned_alloc(h, align, size);
}

[[noreturn]] inline void throw_errno(int err, const char *what)
{
	throw std::system_error(err, std::generic_category(), what);
}

} // namespace detail

// An allocator for containers inside a shared heap.  One pointer big, no
// vtable, trivially copyable: a copy in the heap means the same thing in
// every process that attached the heap.
template <class T>
class shared_allocator {
public:
	using value_type = T;
	// A container keeps its heap for life: its elements must be where
	// every process that can see the container can follow them.
	// Assigning from a container of another heap copies the elements
	// into this one; swapping containers of different heaps is undefined,
	// as for every allocator that is not always equal.
	using propagate_on_container_copy_assignment = std::false_type;
	using propagate_on_container_move_assignment = std::false_type;
	using propagate_on_container_swap = std::false_type;
	using is_always_equal = std::false_type;

	// Implicit, so that ph::shared_string s("text", h) reads naturally.
	shared_allocator(ph_heap_t *h) noexcept : base_(h) {}
	template <class U>
	shared_allocator(const shared_allocator<U> &o) noexcept
	    : base_(o.base()) {}

	[[nodiscard]] T *allocate(std::size_t n)
	{
		if (n > max_size())
			throw std::bad_array_new_length();
		void *p = detail::heap_alloc(attached(), n * sizeof(T),
		    alignof(T));
		if (p == nullptr)
			throw std::bad_alloc();
		return static_cast<T *>(p);
	}

	void deallocate(T *p, std::size_t) noexcept
	{
		// A ph_heap_t * is the heap's start address (ph_heap(3)), so
		// ph_heap_of(base_) could only give base_ back or say "not
		// attached here"; ph_heap_free checks the handle itself and
		// aborts on that misuse, so the lookup (a scan of the
		// process's heaps) is skipped on this path.
		ph_heap_free(static_cast<ph_heap_t *>(base_), p);
	}

	std::size_t max_size() const noexcept
	{
		return std::numeric_limits<std::size_t>::max() / sizeof(T);
	}

	// The heap's start address, the same in every process.
	void *base() const noexcept { return base_; }
	// The calling process's handle on the heap, or nullptr if it has
	// not attached it.
	ph_heap_t *heap() const noexcept
	{
		ph_heap_t *h = ph_heap_of(base_);
		return h == base_ ? h : nullptr;
	}

private:
	ph_heap_t *attached() const
	{
		ph_heap_t *h = heap();
		if (h == nullptr)
			throw heap_not_attached();
		return h;
	}

	void *base_;
};

template <class T, class U>
bool operator==(const shared_allocator<T> &a, const shared_allocator<U> &b)
    noexcept
{
	return a.base() == b.base();
}

template <class T, class U>
bool operator!=(const shared_allocator<T> &a, const shared_allocator<U> &b)
    noexcept
{
	return !(a == b);
}

// std::hash of the standard strings only; this one hashes any char string
// (shared_string included) as its characters, the same in every process.
template <class T>
struct hash : std::hash<T> {};

template <class A>
struct hash<std::basic_string<char, std::char_traits<char>, A>> {
	std::size_t operator()(
	    const std::basic_string<char, std::char_traits<char>, A> &s) const
	    noexcept
	{
		return std::hash<std::string_view>{}(s);
	}
};

// The scoped adaptor hands the container's allocator on to the elements
// it constructs, so nested containers land in the same heap.
template <class T>
using scoped_allocator = std::scoped_allocator_adaptor<shared_allocator<T>>;

using shared_string =
    std::basic_string<char, std::char_traits<char>, shared_allocator<char>>;
template <class T>
using shared_vector = std::vector<T, scoped_allocator<T>>;
template <class T>
using shared_deque = std::deque<T, scoped_allocator<T>>;
// std::less<> lets find() take a const char * or a std::string_view
// without making a key in the heap.
template <class K, class V, class Compare = std::less<>>
using shared_map =
    std::map<K, V, Compare, scoped_allocator<std::pair<const K, V>>>;
template <class K, class V, class Hash = ph::hash<K>,
          class Eq = std::equal_to<K>>
using shared_unordered_map = std::unordered_map<K, V, Hash, Eq,
    scoped_allocator<std::pair<const K, V>>>;

namespace detail {

// Uses-allocator construction of a T at p (C++20 has it as
// std::uninitialized_construct_using_allocator).
template <class T, class... Args>
void construct_in(T *p, ph_heap_t *h, Args &&...args)
{
	using A = shared_allocator<char>;
	if constexpr (!std::uses_allocator_v<T, A>) {
		::new (static_cast<void *>(p)) T(std::forward<Args>(args)...);
	} else if constexpr (std::is_constructible_v<T, std::allocator_arg_t,
	                         const A &, Args...>) {
		::new (static_cast<void *>(p))
		    T(std::allocator_arg, A(h), std::forward<Args>(args)...);
	} else {
		static_assert(std::is_constructible_v<T, Args..., const A &>,
		    "T uses an allocator but takes none with these arguments");
		::new (static_cast<void *>(p))
		    T(std::forward<Args>(args)..., A(h));
	}
}

inline void check_key(unsigned key, const char *what)
{
	if (key >= PH_HEAP_ROOTS)
		throw_errno(EINVAL, what);
}

} // namespace detail

// Makes a T in heap h and publishes it under root key (0..PH_HEAP_ROOTS-1).
// A T that uses an allocator a shared_allocator converts to (every
// ph::shared_* container, or a class with such an allocator_type) gets one
// on h.  The object the key named before, if any, is left as it was.
// Throws: std::system_error(EINVAL) for a bad key, before anything is
// allocated; std::bad_alloc; whatever T's constructor throws (the block is
// freed and the key left alone).
template <class T, class... Args>
T *construct_root(ph_heap_t *h, unsigned key, Args &&...args)
{
	detail::check_key(key, "ph::construct_root");
	shared_allocator<T> a(h);
	T *p = a.allocate(1);
	try {
		detail::construct_in(p, h, std::forward<Args>(args)...);
	} catch (...) {
		a.deallocate(p, 1);
		throw;
	}
	int err = ph_heap_set_root(h, key, p);
	if (err != 0) {
		p->~T();
		a.deallocate(p, 1);
		detail::throw_errno(err, "ph_heap_set_root");
	}
	return p;
}

// The T published under key, as this process sees it; nullptr when the key
// is empty.  Nothing checks that it is a T: every process must agree on the
// type.  Throws std::system_error for a bad key (EINVAL) or a root the heap
// finds damaged (EUCLEAN).
template <class T>
T *root(ph_heap_t *h, unsigned key)
{
	detail::check_key(key, "ph::root");
	int saved = errno;
	errno = 0;
	void *p = ph_heap_get_root(h, key);
	int err = errno;
	errno = saved;
	if (p != nullptr)
		return static_cast<T *>(p);
	if (err == ENOENT)
		return nullptr;
	detail::throw_errno(err != 0 ? err : EINVAL, "ph_heap_get_root");
}

// Clears key and destroys and frees the T it named.  False if it was empty.
template <class T>
bool destroy_root(ph_heap_t *h, unsigned key)
{
	T *p = root<T>(h, key);
	if (p == nullptr)
		return false;
	int err = ph_heap_set_root(h, key, nullptr);
	if (err != 0)
		detail::throw_errno(err, "ph_heap_set_root");
	p->~T();
	shared_allocator<T>(h).deallocate(p, 1);
	return true;
}

// A std::pmr::memory_resource on heap h, for containers used by this
// process only: it holds the process-local handle, and pmr containers hold
// a pointer to it (see the top of this file).  After ph_heap_reset(h), let
// the containers go without destroying them: their blocks are gone already.
class heap_resource : public std::pmr::memory_resource {
public:
	explicit heap_resource(ph_heap_t *h) noexcept : heap_(h) {}
	ph_heap_t *heap() const noexcept { return heap_; }

protected:
	void *do_allocate(std::size_t bytes, std::size_t align) override
	{
		void *p = detail::heap_alloc(heap_, bytes, align);
		if (p == nullptr)
			throw std::bad_alloc();
		return p;
	}

	void do_deallocate(void *p, std::size_t, std::size_t) override
	{
		ph_heap_free(heap_, p);
	}

	// Two resources on one heap may free each other's blocks.
	bool do_is_equal(const std::pmr::memory_resource &o) const noexcept
	    override
	{
#if defined(__cpp_rtti) || defined(__GXX_RTTI)
		auto *r = dynamic_cast<const heap_resource *>(&o);
		return r != nullptr && r->heap_ == heap_;
#else
		return this == &o;
#endif
	}

private:
	ph_heap_t *heap_;
};

} // namespace ph

#endif // PHMALLOC_ALLOCATOR_HPP
