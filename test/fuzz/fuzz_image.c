/*
 * fuzz_image.c -- libFuzzer target: bytes -> the image of a small heap at
 * a fixed address -> ph_heap_attach, ph_heap_check, allocations of every
 * kind, ph_heap_check, ph_heap_detach (image_lib.h:image_exercise).
 *
 * A damaged image must be refused with an errno or work: a crash, a
 * sanitizer report, an abort or a hang is a finding.  Inputs shorter than
 * the heap are padded with zeroes; seeds are real heaps (gen_seeds.c).
 */
#include "image_lib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool mapped;
	if (!mapped) {
		if (image_map() == NULL)
			abort();   /* the fixed address is taken */
		mapped = true;
	}
	enum image_verdict v = image_exercise(data, size);
	if (v == IMAGE_BROKEN || v == IMAGE_NOERRNO)
		abort();   /* accepted then failing, or refused without errno */
	return 0;
}
