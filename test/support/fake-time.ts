/** A fake clock whose sleep advances it, so retry and pacing sequences run instantly and deterministically. */
export function fakeTime(start = 0) {
  let t = start;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    advance: (ms: number) => void (t += ms),
    sleeps,
  };
}
