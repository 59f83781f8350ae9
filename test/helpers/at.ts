/**
 * `list.at(index)` for an item the test knows is there: a clear error instead of
 * `undefined` when it is not, so the test fails where the list fell short.
 */
export function at<T> (list: readonly T[], index: number): T {
  const item = list.at(index)
  if (item === undefined) throw new Error(`no item at index ${index} of a list of ${list.length}`)
  return item
}
