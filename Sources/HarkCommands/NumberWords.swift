/// Whole numbers 0–100 as spoken English words: "zero", "seven", "nineteen", "forty", "forty five",
/// "one hundred" (also "a hundred" and "hundred" when read).
public enum NumberWords {
    public static let range: ClosedRange<Int> = 0...100

    static let units = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                        "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
    static let tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

    /// The canonical words for `value` (0–100): the form the grammar speaks.
    public static func words(_ value: Int) -> [String] {
        precondition(range.contains(value), "NumberWords covers 0–100")
        if value == 100 { return ["one", "hundred"] }
        if value < 20 { return [units[value]] }
        let ten = tens[value / 10]
        return value % 10 == 0 ? [ten] : [ten, units[value % 10]]
    }

    /// Reads a number at the start of `tokens`: the value and how many tokens it took, longest reading
    /// first ("twenty one" is 21, not 20). Digits ("21") are read too.
    public static func read(_ tokens: ArraySlice<String>) -> [(value: Int, count: Int)] {
        guard let first = tokens.first else { return [] }
        if let value = Int(first), range.contains(value), first.allSatisfy(\.isASCII) { return [(value, 1)] }
        var readings: [(value: Int, count: Int)] = []
        let second = tokens.dropFirst().first
        if first == "one" || first == "a", second == "hundred" { readings.append((100, 2)) }
        if first == "hundred" { readings.append((100, 1)) }
        if let ten = tens.firstIndex(of: first), ten >= 2 {
            if let second, let unit = units.firstIndex(of: second), (1...9).contains(unit) { readings.append((ten * 10 + unit, 2)) }
            readings.append((ten * 10, 1))
        }
        if let unit = units.firstIndex(of: first) { readings.append((unit, 1)) }
        return readings
    }

    /// Every word a number 0–100 can be spoken with.
    public static var vocabulary: Set<String> {
        Set(units + tens.filter { !$0.isEmpty } + ["hundred"])
    }
}
