import HarkKernels
import HarkTestSupport
import Testing

/// The fast kernels held to the scalar references at odd sizes (llama.cpp's test-quantize-fns idea).
struct QuantKernelTests {
    static let blockCounts = [1, 3, 7, 33]

    @Test("Given random blocks of each type at odd block counts, when dequantized, then the fast version equals the reference exactly",
          arguments: QuantType.allCases)
    func dequantizeFastEqualsReference(_ type: QuantType) {
        var rng = SplitMix64(seed: 11)
        for blocks in Self.blockCounts {
            let k = blocks * type.blockLength
            let row = randomRow(type, count: k, &rng)
            let reference = dequantized(type, row, count: k, reference: true)
            let fast = dequantized(type, row, count: k, reference: false)
            #expect(reference.allSatisfy { $0.isFinite }, "\(type): reference made non-finite values")
            #expect(fast.map(\.bitPattern) == reference.map(\.bitPattern), "\(type) × \(blocks) blocks")
        }
    }

    @Test("Given random activations at odd block counts, when quantized, then the fast quantizer writes the reference's bytes",
          arguments: ActivationFormat.allCases)
    func activationFastEqualsReference(_ format: ActivationFormat) {
        var rng = SplitMix64(seed: 12)
        for blocks in Self.blockCounts {
            let k = blocks * format.blockLength
            var x = randomActivations(count: k, &rng)
            if format.blockLength >= 32 && blocks >= 2 {  // a block of zeros (d = 0) and values that are exact ties
                for i in 0..<format.blockLength { x[i] = 0 }
                x[format.blockLength] = 127
                x[format.blockLength + 1] = 2.5
                x[format.blockLength + 2] = -3.5
            }
            #expect(quantizedActivations(format, x, reference: false) == quantizedActivations(format, x, reference: true), "\(format) × \(blocks)")
        }
    }

    @Test("Given a q8_0 block whose values are exact halves, then ggml's CPU rounding goes to even and its reference rounding away from zero")
    func q8Rounding() {
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127; x[1] = 2.5; x[2] = -3.5; x[3] = 0.5
        let cpu = quantizedActivations(.q8_0, x, reference: true, rounding: .ggmlCPU)
        let ref = quantizedActivations(.q8_0, x, reference: true, rounding: .ggmlReference)
        let fast = quantizedActivations(.q8_0, x, reference: false)
        #expect(cpu[2...5].map { Int8(bitPattern: $0) } == [127, 2, -4, 0])
        #expect(ref[2...5].map { Int8(bitPattern: $0) } == [127, 3, -4, 1])
        #expect(fast == cpu)
        #expect(halfToFloat(UInt16(cpu[0]) | UInt16(cpu[1]) << 8) == 1)
    }

    @Test("Given random activations, when quantized to q8_K, then it meets ggml's definition: q = min(127, round(−127/max · x)), bsums, d = 1/iscale")
    func q8_KDefinition() {
        var rng = SplitMix64(seed: 13)
        let k = 3 * 256
        var x = randomActivations(count: k, &rng)
        x[300] = 5; x[301] = -5  // block 1: the first of equal magnitudes (+5) sets the sign: q = −127 there
        for i in 512..<768 { x[i] = 0 }  // block 2: all zeros
        let q = quantizedActivations(.q8_K, x, reference: false)
        let values = activationValues(.q8_K, q, count: k)
        q.withUnsafeBytes { b in
            for block in 0..<3 {
                let base = 292 * block
                let d = b.loadUnaligned(fromByteOffset: base, as: Float.self)
                let qs = (0..<256).map { Int(Int8(bitPattern: b[base + 4 + $0])) }
                for g in 0..<16 {
                    #expect(Int(b.loadUnaligned(fromByteOffset: base + 260 + 2 * g, as: Int16.self)) == qs[16 * g..<16 * g + 16].reduce(0, +))
                }
                if block == 2 { #expect(d == 0 && qs.allSatisfy { $0 == 0 }); continue }
                #expect(qs.allSatisfy { (-127...127).contains($0) })
                for j in 0..<256 { #expect(abs(values[256 * block + j] - x[256 * block + j]) <= abs(d) * 0.5001, "value \(256 * block + j)") }
            }
            #expect(Int8(bitPattern: b[292 + 4 + 44]) == -127 && Int8(bitPattern: b[292 + 4 + 45]) == 127)
        }
    }

    @Test("Given random weights of each type and activations at odd block counts, when dotted, then the fast dot is within 1e-5 of Σ|terms| of the reference and near the float dot",
          arguments: QuantType.allCases)
    func dotFastNearReference(_ type: QuantType) {
        var rng = SplitMix64(seed: 14)
        for blocks in Self.blockCounts {
            let k = blocks * type.blockLength
            let row = randomRow(type, count: k, &rng)
            let x = randomActivations(count: k, &rng)
            let a = quantizedActivations(type.activationFormat, x, reference: false)
            let w = dequantized(type, row, count: k, reference: true)
            let offsets = offsetMagnitudes(type, row, count: k)
            let xq = activationValues(type.activationFormat, a, count: k)
            // Σ of the magnitudes of what the kernels add up, the offset parts counted apart.
            var magnitude: Float = 0, quantizationError: Float = 0, floatDot: Float = 0
            for i in 0..<k {
                magnitude += (abs(w[i]) + offsets[i]) * abs(xq[i])
                quantizationError += (abs(w[i]) + offsets[i]) * abs(x[i] - xq[i])
                floatDot += w[i] * x[i]
            }
            let reference = dot(type, row, a, count: k, reference: true)
            let fast = dot(type, row, a, count: k, reference: false)
            #expect(abs(fast - reference) <= 1e-5 * magnitude + 1e-7, "\(type) × \(blocks): fast \(fast) reference \(reference) (Σ|terms| \(magnitude))")
            // Against the float product of the dequantized weights and the unquantized activations:
            // off by at most what quantizing x moved (and q8_1's float16 sum, 2⁻¹¹ relative).
            #expect(abs(reference - floatDot) <= quantizationError + 1e-3 * magnitude + 1e-6, "\(type) × \(blocks): \(reference) vs float \(floatDot)")
        }
    }

    @Test("Given integer-exact formats, when the products are small integers, then fast and reference dots are exact")
    func exactIntegerDots() {
        // q8_0 weights of d = 1 dotted with activations that quantize with d = 1 (amax 127): every
        // partial sum is an integer below 2^24, so every order of addition gives the same float.
        let k = 7 * 32
        var rng = SplitMix64(seed: 15)
        var row = randomRow(.q8_0, count: k, &rng)
        for b in 0..<7 { row[34 * b] = 0x00; row[34 * b + 1] = 0x3c }  // d = 1.0
        var x = (0..<k).map { _ in Float(Int(rng.next() % 255) - 127) }
        for b in 0..<7 { x[32 * b] = 127 }
        let a = quantizedActivations(.q8_0, x, reference: false)
        var exact = 0
        for i in 0..<k { exact += Int(Int8(bitPattern: row[34 * (i / 32) + 2 + i % 32])) * Int(x[i]) }
        #expect(dot(.q8_0, row, a, count: k, reference: true) == Float(exact))
        #expect(dot(.q8_0, row, a, count: k, reference: false) == Float(exact))
    }
}
