"""Benchmark: the ``llava`` backend's closed-set scoring versus the upstream one-image-at-a-time generate loop.

Both run in the same process on the same LLaVA-OneVision model (random weights) and the same 150x150
cutouts (rendered uint8 RGB, as the pipeline hands them over):

* radioassist: ``LlavaBackend.predict(images, task)`` (mode ``'score'``: one prefill of image + prompt per
  image, batched with left padding, cached continuations over the candidate answers);
* upstream (radio-llava's loop, as ``../shared/bench/vlm_anchor.py``): per image, processor + greedy
  ``generate`` of ``--gen-tokens`` new tokens (forced, since random weights never stop) + decode + parse.

It prints images/s of both and their ratio.  ``--arch tiny`` (default) is a ~0.1M-parameter model that runs
anywhere in seconds; ``--arch 0.5b`` / ``--arch 7b`` build the real architecture sizes of
llava-onevision-qwen2-{0.5b,7b}-ov (SigLIP so400m-patch14-384, anyres_max_9) with random weights, for a
GPU (bf16 by default there).

Usage: python benchmarks/bench_vlm.py [--arch tiny|0.5b|7b] [--n 64] [--batch-size 16] [--baseline-n 16]
                                      [--task B6] [--device auto] [--dtype auto] [--repeats 3] [--threads 1]
"""
import argparse
import json
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="tiny", choices=["tiny", "0.5b", "7b"], help="model size (default tiny)")
    parser.add_argument("--n", type=int, default=None, help="images for radioassist (default 64 CPU / 256 GPU)")
    parser.add_argument("--batch-size", type=int, default=None, help="backend batch size (default 16 CPU / 32 GPU)")
    parser.add_argument("--baseline-n", type=int, default=None, help="images for the upstream loop (default 16)")
    parser.add_argument("--gen-tokens", type=int, default=6, help="new tokens per upstream answer (default 6)")
    parser.add_argument("--task", default="B6", help="task (default B6)")
    parser.add_argument("--size", type=int, default=150, help="cutout side in pixels (default 150)")
    parser.add_argument("--device", default="auto", help="torch device (default: cuda if available)")
    parser.add_argument("--dtype", default="auto", help="dtype (default bfloat16 on GPU, float32 on CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept (default 3)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: small matrices run slower on 2 busy cores)")
    args = parser.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    from radioassist.backends import _vlm_scoring as vs
    from radioassist.backends.llava import LlavaBackend
    from radioassist.backends.testing import make_test_images
    from radioassist.backends.tiny import build_llava_onevision
    from radioassist.parsing import parse_answer
    from radioassist.tasks import get_task

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    gpu = device.startswith("cuda")
    dtype = ("bfloat16" if gpu else "float32") if args.dtype == "auto" else args.dtype
    n = args.n or (256 if gpu else 64)
    batch_size = args.batch_size or (32 if gpu else 16)
    baseline_n = args.baseline_n or 16
    task = get_task(args.task)

    def sync():
        if gpu:
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    model, processor = build_llava_onevision(args.arch, dtype=dtype, device=device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[{args.arch}] built {n_params / 1e6:,.1f}M parameters in {time.perf_counter() - t0:.1f}s on {device} "
          f"({dtype}){' ' + torch.cuda.get_device_name() if gpu else ''}", flush=True)

    images = make_test_images(max(n, baseline_n), args.size, seed=0)
    backend = LlavaBackend.from_loaded(model, processor, name=f"random-{args.arch}", batch_size=batch_size)
    messages = backend._conversation(task)
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    seq_len = int(processor(text=[prompt], images=[images[0]], return_tensors="pt")["input_ids"].shape[1])

    # --- upstream loop: one image at a time, greedy generate, parse ---
    @torch.inference_mode()
    def upstream(image):
        inputs = processor(text=[prompt], images=[image], return_tensors="pt").to(device)
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        out = model.generate(**inputs, max_new_tokens=args.gen_tokens, min_new_tokens=args.gen_tokens,
                             do_sample=False, pad_token_id=processor.tokenizer.pad_token_id)
        text = processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return parse_answer(task, text)

    upstream(images[0])
    sync()
    best_upstream = 0.0
    for _ in range(args.repeats):
        t = time.perf_counter()
        for image in images[:baseline_n]:
            upstream(image)
        sync()
        best_upstream = max(best_upstream, baseline_n / (time.perf_counter() - t))
    print(f"upstream loop (1 image at a time, generate {args.gen_tokens} tokens): {best_upstream:.2f} img/s "
          f"[{baseline_n} images]", flush=True)

    # --- radioassist: batched closed-set scoring ---
    backend.predict(images[:batch_size], task)
    sync()
    best = 0.0
    for _ in range(args.repeats):
        t = time.perf_counter()
        predictions = backend.predict(images[:n], task)
        sync()
        best = max(best, n / (time.perf_counter() - t))
    n_candidates = len(vs.answer_candidates(task))
    print(f"radioassist llava predict (closed-set scoring of {n_candidates} answers, batch {batch_size}): "
          f"{best:.2f} img/s [{n} images, {predictions.n_unparsed} unparsed]", flush=True)
    ratio = best / best_upstream
    print(f"ratio radioassist / upstream: {ratio:.1f}x", flush=True)
    result = {"arch": args.arch, "device": torch.cuda.get_device_name() if gpu else "cpu", "dtype": dtype,
              "task": task.id, "cutout": args.size, "seq_len": seq_len, "batch_size": batch_size,
              "upstream_img_s": round(best_upstream, 3), "radioassist_img_s": round(best, 3),
              "ratio": round(ratio, 2)}
    if gpu:
        result["peak_mem_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
