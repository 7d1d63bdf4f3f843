/**
 * Steps of one scenario (runs of one stack, each after the one before), started at once and handed
 * back as one promise per step. Vitest runs a file's describe blocks one after another, so a file whose
 * scenarios each take a describe block of ordered tests would run them end to end: started here, in a
 * beforeAll, the scenarios run side by side while each block's tests await their own steps in order.
 * A step that fails fails every step after it (they never run), each with its error.
 */
export function inTurn<T>(steps: Array<() => Promise<T>>): Array<Promise<T>> {
  let previous: Promise<unknown> = Promise.resolve();
  return steps.map((step) => {
    const result = previous.then(step);
    previous = result;
    // Awaited by its test later: until then a failure must not count as unhandled.
    result.catch(() => undefined);
    return result;
  });
}
