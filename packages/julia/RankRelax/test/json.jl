# A small JSON reader for the reference file (no registry here, so no JSON.jl): objects become
# Dict{String,Any}, arrays Vector{Any}, integers (no fraction, no exponent) Int and other numbers
# Float64, plus strings, true, false, nothing: int params (`k`) keep their type. Enough for RFC 8259 documents; not fast, not streaming.
module MiniJSON

export parse_json

function skip_ws(s::String, i::Int)
    while i <= ncodeunits(s) && (c = codeunit(s, i); c == UInt8(' ') || c == UInt8('\n') || c == UInt8('\r') || c == UInt8('\t'))
        i += 1
    end
    return i
end

function fail(s::String, i::Int, what::String)
    error("JSON: expected ", what, " at byte ", i, " near ", repr(s[max(1, i - 20):min(ncodeunits(s), i + 20)]))
end

function parse_value(s::String, i::Int)
    i = skip_ws(s, i)
    i > ncodeunits(s) && fail(s, i, "a value")
    c = Char(codeunit(s, i))
    c == '{' && return parse_object(s, i)
    c == '[' && return parse_array(s, i)
    c == '"' && return parse_string(s, i)
    if c == 't' && startswith(SubString(s, i), "true")
        return true, i + 4
    elseif c == 'f' && startswith(SubString(s, i), "false")
        return false, i + 5
    elseif c == 'n' && startswith(SubString(s, i), "null")
        return nothing, i + 4
    end
    return parse_number(s, i)
end

function parse_number(s::String, i::Int)
    j = i
    while j <= ncodeunits(s) && Char(codeunit(s, j)) in "+-0123456789.eE"
        j += 1
    end
    j == i && fail(s, i, "a value")
    if !any(c -> c in ".eE", s[i:j-1])
        n = tryparse(Int, s[i:j-1])
        n === nothing || return n, j
    end
    x = tryparse(Float64, s[i:j-1])
    x === nothing && fail(s, i, "a number")
    return x, j
end

function parse_string(s::String, i::Int)
    io = IOBuffer()
    i += 1  # opening quote
    while true
        i > ncodeunits(s) && fail(s, i, "a closing quote")
        c = codeunit(s, i)
        if c == UInt8('"')
            return String(take!(io)), i + 1
        elseif c == UInt8('\\')
            e = Char(codeunit(s, i + 1))
            if e == 'u'
                code = parse(UInt16, s[i+2:i+5]; base = 16)
                i += 6
                if 0xd800 <= code <= 0xdbff  # surrogate pair
                    low = parse(UInt16, s[i+2:i+5]; base = 16)
                    print(io, Char(0x10000 + ((UInt32(code) - 0xd800) << 10) + (UInt32(low) - 0xdc00)))
                    i += 6
                else
                    print(io, Char(code))
                end
                continue
            end
            print(io, e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e)
            i += 2
        else
            write(io, c)
            i += 1
        end
    end
end

function parse_array(s::String, i::Int)
    out = Any[]
    i = skip_ws(s, i + 1)
    if codeunit(s, i) == UInt8(']')
        return out, i + 1
    end
    while true
        v, i = parse_value(s, i)
        push!(out, v)
        i = skip_ws(s, i)
        c = codeunit(s, i)
        c == UInt8(']') && return out, i + 1
        c == UInt8(',') || fail(s, i, "',' or ']'")
        i += 1
    end
end

function parse_object(s::String, i::Int)
    out = Dict{String,Any}()
    i = skip_ws(s, i + 1)
    if codeunit(s, i) == UInt8('}')
        return out, i + 1
    end
    while true
        i = skip_ws(s, i)
        codeunit(s, i) == UInt8('"') || fail(s, i, "a key")
        k, i = parse_string(s, i)
        i = skip_ws(s, i)
        codeunit(s, i) == UInt8(':') || fail(s, i, "':'")
        v, i = parse_value(s, i + 1)
        out[k] = v
        i = skip_ws(s, i)
        c = codeunit(s, i)
        c == UInt8('}') && return out, i + 1
        c == UInt8(',') || fail(s, i, "',' or '}'")
        i += 1
    end
end

"""
    parse_json(text) -> Any

The value of a JSON document.
"""
function parse_json(text::AbstractString)
    s = String(text)
    v, i = parse_value(s, 1)
    skip_ws(s, i) > ncodeunits(s) || fail(s, i, "the end of the document")
    return v
end

end # module MiniJSON
