import HarkPower
import Testing

@Suite struct PowerGovernorTests {
    /// Runs the governor on a constant estimate from `from` for `seconds` (one judgement a second).
    static func run(_ governor: inout PowerGovernor, estimate: (PowerGovernor) -> Double, from: Double, seconds: Int) -> [(Double, PowerGovernor.Change)] {
        var changes: [(Double, PowerGovernor.Change)] = []
        for k in 0..<seconds {
            let t = from + Double(k)
            if let change = governor.update(estimate: estimate(governor), at: t) { changes.append((t, change)) }
        }
        return changes
    }

    @Test func givenNoBudget_whenOverAnything_thenNothingChanges() {
        var governor = PowerGovernor(configuration: .init(), gate: true, wakeWords: 2)
        #expect(Self.run(&governor, estimate: { _ in 1e6 }, from: 0, seconds: 300).isEmpty)
        #expect(governor.level == 0)
    }

    @Test func givenAGenerousBudget_whenUnder_thenNothingIsThrottled() {
        var governor = PowerGovernor(configuration: .init(budgetMilliwatts: 500), gate: true, wakeWords: 2)
        #expect(Self.run(&governor, estimate: { _ in 40 }, from: 0, seconds: 600).isEmpty)
        #expect(governor.throttle == PowerGovernor.Throttle())
    }

    /// Given a budget no lever can meet, when the estimate stays over it, then the levers are taken
    /// in the documented order, one per dwell, and "cannot meet" is said once.
    @Test func givenAnUnmeetableBudget_whenOver_thenEveryLeverInOrderThenCannotMeetOnce() {
        var governor = PowerGovernor(configuration: .init(budgetMilliwatts: 10), gate: true, wakeWords: 3)
        #expect(governor.ladder == [.stricterGate, .strictestGate, .silentGaps, .wakeStride2, .wakeStride3, .fewerWakeWords])
        #expect(governor.skipped.map(\.lever) == [.lowerCaptureRate])
        let changes = Self.run(&governor, estimate: { _ in 30 }, from: 0, seconds: 200)
        #expect(changes.map(\.0) == [0, 10, 20, 30, 40, 50, 60])
        #expect(changes.map(\.1) == [
            .throttle(lever: .stricterGate, level: 1, estimate: 30), .throttle(lever: .strictestGate, level: 2, estimate: 30),
            .throttle(lever: .silentGaps, level: 3, estimate: 30),
            .throttle(lever: .wakeStride2, level: 4, estimate: 30), .throttle(lever: .wakeStride3, level: 5, estimate: 30),
            .throttle(lever: .fewerWakeWords, level: 6, estimate: 30), .cannotMeet(estimate: 30),
        ])
        var expected = PowerGovernor.Throttle()
        expected.gate = 3
        expected.stride = 3
        expected.singleWakeWord = true
        #expect(governor.throttle == expected)
    }

    /// Given every lever taken and an estimate that wobbles across the budget (the 10 s window on
    /// continuous speech), when it goes on, then "cannot meet" is still said only once.
    @Test func givenAnEstimateWobblingAcrossTheBudget_whenEveryLeverIsTaken_thenCannotMeetIsSaidOnce() {
        var governor = PowerGovernor(configuration: .init(budgetMilliwatts: 133), gate: true, wakeWords: 1)
        let wobble: [Double] = [150, 140, 120, 137, 126, 145, 105, 139]
        var k = 0
        let changes = Self.run(&governor, estimate: { _ in k += 1; return wobble[k % wobble.count] }, from: 0, seconds: 600)
        #expect(changes.filter { if case .cannotMeet = $0.1 { true } else { false } }.count == 1, "\(changes)")
        #expect(governor.level == governor.ladder.count)
    }

    /// Given levers that each cut the estimate, when over the budget, then the governor stops at the
    /// first level that fits and stays there.
    @Test func givenLeversThatHelp_whenOver_thenItStopsWhereTheBudgetIsMet() {
        var governor = PowerGovernor(configuration: .init(budgetMilliwatts: 50), gate: true, wakeWords: 1)
        // 80 mW at level 0, 60 at level 1, 45 at level 2.
        let changes = Self.run(&governor, estimate: { [80, 60, 45, 40, 35][$0.level] }, from: 0, seconds: 300)
        #expect(changes.map(\.1) == [.throttle(lever: .stricterGate, level: 1, estimate: 80),
                                     .throttle(lever: .strictestGate, level: 2, estimate: 60)])
        #expect(governor.level == 2)
    }

    /// Given headroom (silence after speech), when the estimate stays under 60 % of the budget, then
    /// levers are given back one at a time, each after 30 s.
    @Test func givenHeadroom_whenUnderForLong_thenLeversAreGivenBack() {
        var governor = PowerGovernor(configuration: .init(budgetMilliwatts: 50), gate: true, wakeWords: 1)
        _ = Self.run(&governor, estimate: { _ in 90 }, from: 0, seconds: 35)
        #expect(governor.level == 4)
        let changes = Self.run(&governor, estimate: { _ in 5 }, from: 35, seconds: 200)
        #expect(changes.map(\.1) == [.relax(lever: .wakeStride2, level: 3, estimate: 5), .relax(lever: .silentGaps, level: 2, estimate: 5),
                                     .relax(lever: .strictestGate, level: 1, estimate: 5), .relax(lever: .stricterGate, level: 0, estimate: 5)])
        #expect(changes.map(\.0) == [65, 96, 127, 158])
    }

    /// Given a lever that, given back, pushes the estimate over again, when that repeats, then the
    /// wait before giving it back doubles each time (no oscillation every 30 s).
    @Test func givenARelaxThatFails_whenRepeated_thenTheWaitDoubles() {
        var governor = PowerGovernor(configuration: .init(budgetMilliwatts: 50), gate: true, wakeWords: 1)
        // Level 0: 70 mW (over); level 1: 20 mW (under 60 %).
        var relaxes: [Double] = []
        for (t, change) in Self.run(&governor, estimate: { $0.level == 0 ? 70 : 20 }, from: 0, seconds: 600) {
            if case .relax = change { relaxes.append(t) }
        }
        #expect(relaxes.count >= 3)
        let gaps = zip(relaxes.dropFirst(), relaxes).map { $0 - $1 }
        #expect(gaps == gaps.sorted() && gaps.last! > gaps.first! * 3, "relaxes at \(relaxes)")
    }

    @Test func givenTheGateOffAndOneWakeWord_whenBuilt_thenThoseLeversAreSkippedWithTheReason() {
        let governor = PowerGovernor(configuration: .init(budgetMilliwatts: 5), gate: false, wakeWords: 1)
        #expect(governor.ladder == [.wakeStride2, .wakeStride3])
        let reasons = Dictionary(uniqueKeysWithValues: governor.skipped.map { ($0.lever, $0.unavailable ?? "") })
        #expect(reasons[.stricterGate]?.contains("gate: false") == true)
        #expect(reasons[.silentGaps]?.contains("gate: false") == true)
        #expect(reasons[.fewerWakeWords] == "only one wake word is configured")
        #expect(reasons[.lowerCaptureRate]?.contains("16 kHz") == true)
    }
}
