"""Code demo corpus: general list and string utilities (public) and a finance team's ledger helpers (private).

The public corpus stands for what a public model has read: small Python functions over lists and
strings. The private corpus is the client's own code base: helpers of an in-house ledger with its own
naming convention and data shapes ((category, amount) entries, 'key=value;...' records, amounts in
cents), each request carrying a made-up ticket id and its author's name. The test split holds tasks of
the private families whose parameter values never occur in the private split, so a model passes them
only by learning the family, not by recalling one record. Every reference solution is executed
against its asserts before anything is written.
"""
from __future__ import annotations

import copy

from rewardds.data.demo.people import ticket_ids

WORDS = ["apple", "river", "stone", "cloud", "tiger", "lamp", "orange", "bread", "music", "garden", "window",
         "silver", "planet", "candle", "forest", "ocean", "pencil", "rabbit", "summer", "bridge", "castle",
         "dragon", "engine", "flower", "guitar", "hammer", "island", "jacket", "kettle", "ladder", "mirror",
         "needle", "pepper", "rocket", "saddle", "table", "umbrella", "violin", "wagon", "yellow", "zebra", "a",
         "an", "is", "sun", "sky", "egg", "ice", "owl", "cat", "dog", "map", "bus", "tea", "level", "noon", "radar"]


def g_ints(rng, lo=-10, hi=20, n=(3, 8)):
    return [rng.randint(lo, hi) for _ in range(rng.randint(*n))]


def g_pos(rng):
    return g_ints(rng, 1, 30)


def g_sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7)))


def g_word(rng):
    return rng.choice(WORDS[:-14] + ["level", "radar", "noon", "Anna", "Racecar", "Stats"])


def g_small(rng):
    return rng.randint(0, 12)


def g_num(rng):
    return rng.randint(1, 99999)


def _one(g):
    return lambda rng, p: (g(rng),)


# Families: (entry point, description, code, argument generator, parameter values).
# ``{p}`` in entry point, description and code is replaced by the parameter;
# a family with params [None] is a single task.
FAMILIES = [
    ("sum_of_powers_{p}", "returns the sum of each number in a list of integers raised to the power {p}",
     "def EP(nums):\n    return sum(x ** {p} for x in nums)", _one(g_ints), [1, 2, 3, 4, 5]),
    ("count_divisible_by_{p}", "counts how many numbers in a list are divisible by {p}",
     "def EP(nums):\n    return sum(1 for x in nums if x % {p} == 0)", _one(g_ints), list(range(2, 21))),
    ("greater_than_{p}", "returns a list of the numbers in the input list that are greater than {p}",
     "def EP(nums):\n    return [x for x in nums if x > {p}]", _one(g_ints), list(range(0, 31))),
    ("less_than_{p}", "returns the numbers of a list that are smaller than {p}, keeping their order",
     "def EP(nums):\n    return [x for x in nums if x < {p}]", _one(g_ints), list(range(1, 26))),
    ("multiply_by_{p}", "multiplies every element of a list of integers by {p} and returns the new list",
     "def EP(nums):\n    return [x * {p} for x in nums]", _one(g_ints), list(range(2, 21))),
    ("add_{p}_to_each", "adds {p} to every number in a list and returns the result",
     "def EP(nums):\n    return [x + {p} for x in nums]", _one(g_ints), list(range(1, 21))),
    ("count_letter_{p}", "counts the occurrences of the letter '{p}' in a string, ignoring case",
     "def EP(text):\n    return text.lower().count('{p}')", _one(g_sentence), list("aeiourstnlmcdgh")),
    ("words_starting_with_{p}", "returns the words of a sentence that start with the letter '{p}'",
     "def EP(sentence):\n    return [w for w in sentence.split() if w.startswith('{p}')]",
     lambda rng, p: (g_sentence(rng) + " " + rng.choice([w for w in WORDS if w.startswith(p)] or ["x"]),),
     list("bcdfgmprstw")),
    ("count_words_longer_than_{p}", "counts the words in a sentence that have more than {p} letters",
     "def EP(sentence):\n    return sum(1 for w in sentence.split() if len(w) > {p})", _one(g_sentence), [2, 3, 4, 5, 6]),
    ("rotate_left_{p}", "rotates a list to the left by {p} positions",
     "def EP(items):\n    if not items:\n        return []\n    k = {p} % len(items)\n    return items[k:] + items[:k]",
     _one(g_ints), [1, 2, 3, 4, 5]),
    ("rotate_right_{p}", "rotates a list to the right by {p} positions",
     "def EP(items):\n    if not items:\n        return []\n    k = {p} % len(items)\n    return items[-k:] + items[:-k] if k else list(items)",
     _one(g_ints), [1, 2, 3, 4, 5]),
    ("chunks_of_{p}", "splits a list into consecutive chunks of length {p} (the last chunk may be shorter)",
     "def EP(items):\n    return [items[i:i + {p}] for i in range(0, len(items), {p})]", _one(g_ints), [2, 3, 4, 5]),
    ("average_rounded_{p}", "returns the average of a non-empty list of numbers rounded to {p} decimal places",
     "def EP(nums):\n    return round(sum(nums) / len(nums), {p})", _one(g_ints), [0, 1, 2, 3]),
    ("caesar_shift_{p}", "shifts every lowercase letter of a string {p} places forward in the alphabet, wrapping around after 'z', and leaves other characters unchanged",
     "def EP(text):\n    out = []\n    for ch in text:\n        if 'a' <= ch <= 'z':\n            out.append(chr((ord(ch) - 97 + {p}) % 26 + 97))\n        else:\n            out.append(ch)\n    return ''.join(out)",
     _one(g_sentence), list(range(1, 26))),
    ("repeat_each_{p}_times", "returns a list where each element of the input list is repeated {p} times in a row",
     "def EP(items):\n    return [x for x in items for _ in range({p})]", lambda rng, p: (g_ints(rng, 0, 9, (2, 4)),), [2, 3, 4]),
    ("every_{p}th_element", "returns every {p}th element of a list, starting with the first",
     "def EP(items):\n    return items[::{p}]", _one(g_ints), [2, 3, 4, 5]),
    ("sum_multiples_{p[0]}_or_{p[1]}", "returns the sum of all natural numbers below n that are multiples of {p[0]} or {p[1]}",
     "def EP(n):\n    return sum(i for i in range(1, n) if i % {p[0]} == 0 or i % {p[1]} == 0)",
     lambda rng, p: (rng.randint(5, 60),),
     [(a, b) for a in (2, 3, 5, 7) for b in (3, 4, 5, 7, 11) if a < b]),
    ("clamp_{p[2]}", "limits every number in a list to the range from {p[0]} to {p[1]}, replacing smaller values by {p[0]} and larger ones by {p[1]}",
     "def EP(nums):\n    return [min(max(x, {p[0]}), {p[1]}) for x in nums]", _one(g_ints),
     [(0, 10, "0_10"), (0, 5, "0_5"), (-5, 5, "minus5_5"), (1, 9, "1_9"), (2, 8, "2_8"), (-3, 3, "minus3_3"), (0, 1, "0_1"), (10, 15, "10_15")]),
    ("count_between_{p[0]}_and_{p[1]}", "counts the numbers in a list that lie between {p[0]} and {p[1]} inclusive",
     "def EP(nums):\n    return sum(1 for x in nums if {p[0]} <= x <= {p[1]})", _one(g_ints),
     [(0, 5), (1, 10), (3, 7), (0, 9), (5, 15), (2, 4), (10, 20), (4, 12)]),
    ("index_first_above_{p}", "returns the index of the first element of a list greater than {p}, or -1 if there is none",
     "def EP(nums):\n    for i, x in enumerate(nums):\n        if x > {p}:\n            return i\n    return -1",
     _one(g_ints), list(range(0, 26))),
    ("power_of_{p}", "returns {p} raised to the power n for a non-negative integer n",
     "def EP(n):\n    result = 1\n    for _ in range(n):\n        result *= {p}\n    return result", _one(g_small), list(range(2, 16))),
    ("remove_multiples_of_{p}", "removes all multiples of {p} from a list of integers",
     "def EP(nums):\n    return [x for x in nums if x % {p} != 0]", _one(g_ints), [2, 3, 4, 5, 6, 7]),
    ("zero_pad_{p}", "turns a non-negative integer into a string padded with leading zeros to a width of {p}",
     "def EP(n):\n    return str(n).zfill({p})", _one(g_num), list(range(3, 11))),
    ("first_{p}_words", "returns a string made of the first {p} words of a sentence, separated by single spaces",
     "def EP(sentence):\n    return ' '.join(sentence.split()[:{p}])", _one(g_sentence), [2, 3, 4, 5]),
    ("replace_{p[2]}", "replaces every '{p[0]}' in a string with '{p[1]}'",
     "def EP(text):\n    return text.replace('{p[0]}', '{p[1]}')", _one(g_sentence),
     [(x, y, f"{x}_with_{y}") for x, y in ("ae", "ei", "ou", "iy", "rl", "sz", "td")]
     + [(" ", "_", "spaces_with_underscores")]),
    ("sum_digits_power_{p}", "returns the sum of the digits of a non-negative integer, each raised to the power {p}",
     "def EP(n):\n    return sum(int(d) ** {p} for d in str(n))", _one(g_num), [1, 2, 3, 4]),
    ("top_{p}_largest", "returns the {p} largest numbers of a list in descending order",
     "def EP(nums):\n    return sorted(nums, reverse=True)[:{p}]", _one(g_ints), [1, 2, 3, 4]),
    ("bottom_{p}_smallest", "returns the {p} smallest numbers of a list in ascending order",
     "def EP(nums):\n    return sorted(nums)[:{p}]", _one(g_ints), [1, 2, 3, 4]),
    ("count_words_ending_with_{p}", "counts the words in a sentence that end with the letter '{p}'",
     "def EP(sentence):\n    return sum(1 for w in sentence.split() if w.endswith('{p}'))", _one(g_sentence), list("enrtsy")),
    ("to_base_{p}", "converts a non-negative integer to its representation in base {p} as a string",
     "def EP(n):\n    if n == 0:\n        return '0'\n    digits = []\n    while n:\n        digits.append(str(n % {p}))\n        n //= {p}\n    return ''.join(reversed(digits))",
     _one(g_num), list(range(2, 10))),
    ("polygonal_{p}", "returns the n-th {p}-gonal number, computed as ((s - 2) * n * n - (s - 4) * n) // 2 with s = {p}",
     "def EP(n):\n    s = {p}\n    return ((s - 2) * n * n - (s - 4) * n) // 2", _one(g_small), [3, 4, 5, 6, 7, 8]),
    ("count_equal_to_{p}", "counts how many times the value {p} appears in a list",
     "def EP(nums):\n    return nums.count({p})", lambda rng, p: (g_ints(rng, 0, 9, (4, 10)),), list(range(0, 10))),
    ("remove_value_{p}", "removes every occurrence of {p} from a list and returns the remaining elements",
     "def EP(nums):\n    return [x for x in nums if x != {p}]", lambda rng, p: (g_ints(rng, 0, 9, (4, 10)),), list(range(0, 10))),
    ("modulo_{p}_each", "returns a list with the remainder of each number divided by {p}",
     "def EP(nums):\n    return [x % {p} for x in nums]", _one(g_ints), list(range(2, 17))),
    ("sum_first_{p}", "returns the sum of the first {p} elements of a list (or of all of them if the list is shorter)",
     "def EP(nums):\n    return sum(nums[:{p}])", _one(g_ints), list(range(2, 11))),
    ("sum_last_{p}", "returns the sum of the last {p} elements of a list (or of all of them if the list is shorter)",
     "def EP(nums):\n    return sum(nums[-{p}:])", _one(g_ints), list(range(2, 11))),
    ("replace_negatives_with_{p}", "replaces every negative number in a list with {p}",
     "def EP(nums):\n    return [{p} if x < 0 else x for x in nums]", _one(g_ints), list(range(0, 11))),
    ("is_divisible_by_{p[0]}_and_{p[1]}", "checks whether an integer is divisible by both {p[0]} and {p[1]}",
     "def EP(n):\n    return n % {p[0]} == 0 and n % {p[1]} == 0",
     lambda rng, p: (rng.choice([p[0] * p[1] * rng.randint(1, 9), rng.randint(1, 200)]),),
     [(2, 3), (3, 5), (2, 5), (4, 6), (3, 7), (2, 7)]),
    ("subtract_{p}_from_each", "subtracts {p} from every number in a list and returns the new list",
     "def EP(nums):\n    return [x - {p} for x in nums]", _one(g_ints), list(range(1, 13))),
    ("count_greater_than_{p}", "counts the numbers in a list that are greater than {p}",
     "def EP(nums):\n    return sum(1 for x in nums if x > {p})", _one(g_ints), list(range(0, 13))),
    ("count_less_than_{p}", "counts the numbers in a list that are smaller than {p}",
     "def EP(nums):\n    return len([x for x in nums if x < {p}])", _one(g_ints), list(range(1, 11))),
    ("contains_{p}", "checks whether the value {p} appears in a list of integers",
     "def EP(nums):\n    for x in nums:\n        if x == {p}:\n            return True\n    return False",
     lambda rng, p: (g_ints(rng, 0, 9, (2, 6)),), list(range(0, 10))),
    ("floor_divide_by_{p}", "divides every number of a list by {p} using integer (floor) division",
     "def EP(nums):\n    return [x // {p} for x in nums]", _one(g_ints), list(range(2, 10))),
    ("sum_divisible_by_{p}", "returns the sum of the numbers in a list that are divisible by {p}",
     "def EP(nums):\n    return sum(x for x in nums if x % {p} == 0)", _one(g_ints), list(range(2, 10))),
    ("words_of_length_{p}", "returns the words of a sentence that have exactly {p} letters",
     "def EP(sentence):\n    return [w for w in sentence.split() if len(w) == {p}]", _one(g_sentence), list(range(2, 8))),
    ("repeat_with_dashes_{p}", "returns a string repeated {p} times with a dash between the copies",
     "def EP(text):\n    return '-'.join([text] * {p})", _one(g_word), [2, 3, 4, 5]),
    ("first_n_multiples_of_{p}", "returns the list of the first n positive multiples of {p}",
     "def EP(n):\n    return [{p} * i for i in range(1, n + 1)]", _one(g_small), list(range(2, 13))),
    ("is_multiple_of_{p}", "checks whether an integer is a multiple of {p}",
     "def EP(n):\n    return n % {p} == 0", lambda rng, p: (rng.choice([p * rng.randint(-9, 20), rng.randint(-50, 200)]),),
     list(range(2, 13))),
    # single tasks
    ("factorial", "returns the factorial of a non-negative integer n",
     "def EP(n):\n    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result", _one(g_small), [None]),
    ("fibonacci", "returns the n-th Fibonacci number, with fib(0) = 0 and fib(1) = 1",
     "def EP(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a", lambda rng, p: (rng.randint(0, 25),), [None]),
    ("gcd", "returns the greatest common divisor of two positive integers",
     "def EP(a, b):\n    while b:\n        a, b = b, a % b\n    return a", lambda rng, p: (rng.randint(1, 200), rng.randint(1, 200)), [None]),
    ("lcm", "returns the least common multiple of two positive integers",
     "def EP(a, b):\n    x, y = a, b\n    while y:\n        x, y = y, x % y\n    return a * b // x", lambda rng, p: (rng.randint(1, 40), rng.randint(1, 40)), [None]),
    ("is_prime", "checks whether an integer is a prime number",
     "def EP(n):\n    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n        if n % i == 0:\n            return False\n        i += 1\n    return True", lambda rng, p: (rng.randint(0, 120),), [None]),
    ("count_primes_below", "counts the prime numbers smaller than n",
     "def EP(n):\n    count = 0\n    for k in range(2, n):\n        if all(k % d for d in range(2, int(k ** 0.5) + 1)):\n            count += 1\n    return count", lambda rng, p: (rng.randint(2, 100),), [None]),
    ("product_of_digits", "returns the product of the digits of a positive integer",
     "def EP(n):\n    result = 1\n    for d in str(n):\n        result *= int(d)\n    return result", _one(g_num), [None]),
    ("digital_root", "repeatedly sums the digits of a non-negative integer until a single digit remains and returns it",
     "def EP(n):\n    while n >= 10:\n        n = sum(int(d) for d in str(n))\n    return n", _one(g_num), [None]),
    ("max_difference", "returns the difference between the largest and the smallest number of a non-empty list",
     "def EP(nums):\n    return max(nums) - min(nums)", _one(g_ints), [None]),
    ("second_largest", "returns the second largest distinct number of a list, or None if there is none",
     "def EP(nums):\n    values = sorted(set(nums), reverse=True)\n    return values[1] if len(values) > 1 else None", _one(g_ints), [None]),
    ("remove_duplicates", "removes duplicate elements from a list while keeping the first occurrence of each in order",
     "def EP(items):\n    seen = set()\n    out = []\n    for x in items:\n        if x not in seen:\n            seen.add(x)\n            out.append(x)\n    return out", lambda rng, p: (g_ints(rng, 0, 6, (4, 10)),), [None]),
    ("flatten_once", "flattens a list of lists by one level",
     "def EP(lists):\n    return [x for sub in lists for x in sub]", lambda rng, p: ([g_ints(rng, 0, 9, (0, 3)) for _ in range(rng.randint(1, 4))],), [None]),
    ("running_sum", "returns the running (cumulative) sums of a list of numbers",
     "def EP(nums):\n    total = 0\n    out = []\n    for x in nums:\n        total += x\n        out.append(total)\n    return out", _one(g_ints), [None]),
    ("pairwise_differences", "returns the differences between each pair of neighbouring elements of a list",
     "def EP(nums):\n    return [b - a for a, b in zip(nums, nums[1:])]", _one(g_ints), [None]),
    ("celsius_to_fahrenheit", "converts a temperature from Celsius to Fahrenheit, rounded to one decimal place",
     "def EP(c):\n    return round(c * 9 / 5 + 32, 1)", lambda rng, p: (rng.randint(-40, 100),), [None]),
    ("fahrenheit_to_celsius", "converts a temperature from Fahrenheit to Celsius, rounded to one decimal place",
     "def EP(f):\n    return round((f - 32) * 5 / 9, 1)", lambda rng, p: (rng.randint(-40, 212),), [None]),
    ("count_signs", "returns a tuple with the number of positive, negative and zero values in a list",
     "def EP(nums):\n    pos = sum(1 for x in nums if x > 0)\n    neg = sum(1 for x in nums if x < 0)\n    return (pos, neg, len(nums) - pos - neg)", lambda rng, p: (g_ints(rng, -3, 3),), [None]),
    ("longest_word", "returns the longest word of a sentence (the first one if there is a tie)",
     "def EP(sentence):\n    best = ''\n    for w in sentence.split():\n        if len(w) > len(best):\n            best = w\n    return best", _one(g_sentence), [None]),
    ("char_frequency", "returns a dictionary mapping each character of a string to the number of times it occurs",
     "def EP(text):\n    counts = dict()\n    for ch in text:\n        counts[ch] = counts.get(ch, 0) + 1\n    return counts", _one(g_word), [None]),
    ("count_ones_binary", "counts the number of 1 bits in the binary representation of a non-negative integer",
     "def EP(n):\n    return bin(n).count('1')", _one(g_num), [None]),
    ("is_sorted_ascending", "checks whether a list is sorted in non-decreasing order",
     "def EP(nums):\n    return all(a <= b for a, b in zip(nums, nums[1:]))", lambda rng, p: (rng.choice([sorted(g_ints(rng)), g_ints(rng)]),), [None]),
    ("is_sorted_descending", "checks whether a list is sorted in non-increasing order",
     "def EP(nums):\n    return all(a >= b for a, b in zip(nums, nums[1:]))", lambda rng, p: (rng.choice([sorted(g_ints(rng), reverse=True), g_ints(rng)]),), [None]),
    ("merge_sorted", "merges two sorted lists into one sorted list",
     "def EP(a, b):\n    i = j = 0\n    out = []\n    while i < len(a) and j < len(b):\n        if a[i] <= b[j]:\n            out.append(a[i])\n            i += 1\n        else:\n            out.append(b[j])\n            j += 1\n    return out + a[i:] + b[j:]", lambda rng, p: (sorted(g_ints(rng)), sorted(g_ints(rng))), [None]),
    ("common_elements", "returns the sorted list of distinct values that appear in both input lists",
     "def EP(a, b):\n    return sorted(set(a) & set(b))", lambda rng, p: (g_ints(rng, 0, 9), g_ints(rng, 0, 9)), [None]),
    ("is_anagram", "checks whether two words are anagrams of each other, ignoring case",
     "def EP(a, b):\n    return sorted(a.lower()) == sorted(b.lower())", lambda rng, p: (lambda w: (w, rng.choice(["".join(rng.sample(w, len(w))), g_word(rng)])))(g_word(rng)), [None]),
    ("missing_number", "finds the one missing number in a list that contains all integers from 0 to n except one",
     "def EP(nums):\n    n = len(nums)\n    return n * (n + 1) // 2 - sum(nums)", lambda rng, p: ((lambda n, m: [x for x in range(n + 1) if x != m])(*(lambda n: (n, rng.randint(0, n)))(rng.randint(2, 9))),), [None]),
    ("product_of_list", "returns the product of all numbers in a list (1 for an empty list)",
     "def EP(nums):\n    result = 1\n    for x in nums:\n        result *= x\n    return result", lambda rng, p: (g_ints(rng, -5, 9),), [None]),
    ("min_and_max", "returns a tuple with the smallest and the largest element of a non-empty list",
     "def EP(nums):\n    return (min(nums), max(nums))", _one(g_ints), [None]),
    ("count_uppercase", "counts the uppercase letters in a string",
     "def EP(text):\n    return sum(1 for ch in text if ch.isupper())", lambda rng, p: (" ".join(rng.choice([w, w.upper(), w.capitalize()]) for w in g_sentence(rng).split()),), [None]),
    ("remove_spaces", "removes all spaces from a string",
     "def EP(text):\n    return text.replace(' ', '')", _one(g_sentence), [None]),
    ("invert_dict", "swaps the keys and values of a dictionary whose values are all distinct",
     "def EP(d):\n    return dict((v, k) for k, v in d.items())", lambda rng, p: (dict(zip(rng.sample(WORDS[:30], 3), rng.sample(range(10), 3))),), [None]),
    ("reverse_words", "reverses the order of the words in a sentence",
     "def EP(sentence):\n    return ' '.join(reversed(sentence.split()))", _one(g_sentence), [None]),
    ("reverse_each_word", "reverses the letters of each word in a sentence while keeping the word order",
     "def EP(sentence):\n    return ' '.join(w[::-1] for w in sentence.split())", _one(g_sentence), [None]),
    ("capitalize_words", "capitalizes the first letter of every word in a sentence",
     "def EP(sentence):\n    return ' '.join(w[:1].upper() + w[1:] for w in sentence.split())", _one(g_sentence), [None]),
    ("is_palindrome", "checks whether a string reads the same forwards and backwards",
     "def EP(text):\n    return text == text[::-1]", _one(g_word), [None]),
    ("is_palindrome_ignore_case", "checks whether a word is a palindrome when upper and lower case are treated the same",
     "def EP(word):\n    w = word.lower()\n    return w == w[::-1]", _one(g_word), [None]),
    ("count_vowels", "counts the vowels (a, e, i, o, u) in a string, ignoring case",
     "def EP(text):\n    return sum(1 for ch in text.lower() if ch in 'aeiou')", _one(g_sentence), [None]),
    ("count_consonants", "counts the consonant letters in a string, ignoring case",
     "def EP(text):\n    return sum(1 for ch in text.lower() if ch.isalpha() and ch not in 'aeiou')", _one(g_sentence), [None]),
    ("sum_even", "returns the sum of the even numbers in a list",
     "def EP(nums):\n    return sum(x for x in nums if x % 2 == 0)", _one(g_ints), [None]),
    ("sum_odd", "returns the sum of the odd numbers in a list",
     "def EP(nums):\n    return sum(x for x in nums if x % 2 != 0)", _one(g_ints), [None]),
    ("max_consecutive_ones", "returns the length of the longest run of consecutive 1s in a list of 0s and 1s",
     "def EP(bits):\n    best = cur = 0\n    for b in bits:\n        cur = cur + 1 if b == 1 else 0\n        best = max(best, cur)\n    return best", lambda rng, p: (g_ints(rng, 0, 1, (4, 12)),), [None]),
    ("count_unique", "returns the number of distinct values in a list",
     "def EP(items):\n    return len(set(items))", lambda rng, p: (g_ints(rng, 0, 6),), [None]),
    ("most_frequent", "returns the most frequent element of a non-empty list (the smallest one if there is a tie)",
     "def EP(items):\n    counts = dict()\n    for x in items:\n        counts[x] = counts.get(x, 0) + 1\n    best = max(counts.values())\n    return min(x for x, c in counts.items() if c == best)", lambda rng, p: (g_ints(rng, 0, 5, (4, 10)),), [None]),
    ("join_with_commas", "joins a list of words into one string separated by commas",
     "def EP(words):\n    return ','.join(words)", lambda rng, p: (g_sentence(rng).split(),), [None]),
    ("ascii_codes", "returns the list of ASCII codes of the characters of a string",
     "def EP(text):\n    return [ord(ch) for ch in text]", _one(g_word), [None]),
    ("alternating_sum", "returns the alternating sum of a list, adding elements at even positions and subtracting those at odd positions",
     "def EP(nums):\n    return sum(x if i % 2 == 0 else -x for i, x in enumerate(nums))", _one(g_ints), [None]),
    ("dot_product", "returns the dot product of two lists of numbers of the same length",
     "def EP(a, b):\n    return sum(x * y for x, y in zip(a, b))", lambda rng, p: (lambda n: (g_ints(rng, -5, 9, (n, n)), g_ints(rng, -5, 9, (n, n))))(rng.randint(2, 6)), [None]),
    ("elementwise_sum", "adds two lists of the same length element by element",
     "def EP(a, b):\n    return [x + y for x, y in zip(a, b)]", lambda rng, p: (lambda n: (g_ints(rng, -5, 9, (n, n)), g_ints(rng, -5, 9, (n, n))))(rng.randint(2, 6)), [None]),
    ("integer_sqrt", "returns the largest integer whose square is at most n, for a non-negative integer n",
     "def EP(n):\n    r = 0\n    while (r + 1) * (r + 1) <= n:\n        r += 1\n    return r", lambda rng, p: (rng.randint(0, 500),), [None]),
    ("is_perfect_square", "checks whether a non-negative integer is a perfect square",
     "def EP(n):\n    r = int(n ** 0.5)\n    while r * r > n:\n        r -= 1\n    while (r + 1) * (r + 1) <= n:\n        r += 1\n    return r * r == n", lambda rng, p: (rng.choice([rng.randint(0, 30) ** 2, rng.randint(0, 900)]),), [None]),
    ("is_power_of_two", "checks whether a positive integer is a power of two",
     "def EP(n):\n    return n > 0 and n & (n - 1) == 0", lambda rng, p: (rng.choice([2 ** rng.randint(0, 12), rng.randint(1, 3000)]),), [None]),
    ("count_digits", "returns the number of digits of a non-negative integer",
     "def EP(n):\n    return len(str(n))", lambda rng, p: (rng.randint(0, 10 ** rng.randint(1, 9)),), [None]),
    ("reverse_number", "returns the integer formed by reversing the digits of a non-negative integer",
     "def EP(n):\n    return int(str(n)[::-1])", _one(g_num), [None]),
    ("is_armstrong", "checks whether a positive integer equals the sum of its digits each raised to the number of digits",
     "def EP(n):\n    s = str(n)\n    return n == sum(int(d) ** len(s) for d in s)", lambda rng, p: (rng.choice([153, 370, 371, 407, 9474, rng.randint(1, 9999)]),), [None]),
    ("middle_element", "returns the middle element of a list of odd length",
     "def EP(items):\n    return items[len(items) // 2]", lambda rng, p: (g_ints(rng, -9, 9, (rng.choice([1, 3, 5, 7]),) * 2),), [None]),
    ("word_lengths", "returns a list with the length of each word in a sentence",
     "def EP(sentence):\n    return [len(w) for w in sentence.split()]", _one(g_sentence), [None]),
    ("acronym", "builds an uppercase acronym from the first letters of the words of a sentence",
     "def EP(sentence):\n    return ''.join(w[0].upper() for w in sentence.split())", _one(g_sentence), [None]),
    ("remove_vowels", "removes all lowercase vowels from a string",
     "def EP(text):\n    return ''.join(ch for ch in text if ch not in 'aeiou')", _one(g_sentence), [None]),
    ("has_double_letter", "checks whether a string contains the same letter twice in a row",
     "def EP(text):\n    return any(a == b for a, b in zip(text, text[1:]))", _one(g_word), [None]),
    ("count_pairs_summing_to_zero", "counts the pairs of positions i < j in a list whose values add up to zero",
     "def EP(nums):\n    count = 0\n    for i in range(len(nums)):\n        for j in range(i + 1, len(nums)):\n            if nums[i] + nums[j] == 0:\n                count += 1\n    return count", lambda rng, p: (g_ints(rng, -4, 4),), [None]),
    ("swap_case", "swaps upper case letters to lower case and lower case letters to upper case in a string",
     "def EP(text):\n    return text.swapcase()", lambda rng, p: (" ".join(rng.choice([w, w.upper(), w.capitalize()]) for w in g_sentence(rng).split()),), [None]),
    ("square_each", "returns a list with the square of each number of the input list",
     "def EP(nums):\n    return [x * x for x in nums]", _one(g_ints), [None]),
    ("sum_of_range", "returns the sum of all integers from a to b inclusive, for a <= b",
     "def EP(a, b):\n    return sum(range(a, b + 1))", lambda rng, p: (lambda a: (a, a + rng.randint(0, 30)))(rng.randint(-10, 20)), [None]),
]

CODE_PREFIX = ["Write a python function that {d}.", "Write a function that {d}.", "Create a python function which {d}.",
               "Implement a python function that {d}.", "Write a python function which {d}."]
CODE_PROSE = ["Here is the code to solve this problem:", "Here is a function that does this:",
              "The following function solves the task:", "You can do it like this:", "A simple solution:"]


def _fill(template, p):
    if p is None:
        return template
    return template.replace("{p}", str(p)).replace("{p[0]}", str(p[0]) if isinstance(p, tuple) else "") \
        .replace("{p[1]}", str(p[1]) if isinstance(p, tuple) else "") \
        .replace("{p[2]}", str(p[2]) if isinstance(p, tuple) and len(p) > 2 else "")


def _run(code, ep, args):
    ns: dict = {}
    exec(code, ns)  # noqa: S102 - our own reference code
    return ns[ep](*copy.deepcopy(args))


def verify(code: str, tests) -> None:
    """Run every assert against the reference code in a fresh namespace."""
    ns: dict = {}
    exec(code, ns)  # noqa: S102
    for t in tests:
        exec(t, ns)  # noqa: S102


def code_task(rng, fam, p, prefix=None, prose=None):
    """One task of family ``fam`` at parameter ``p``: instruction, answer, code, entry point, 3 asserts."""
    ep_t, desc_t, code_t, gen, _ = fam
    ep, desc = _fill(ep_t, p), _fill(desc_t, p)
    code = _fill(code_t, p).replace("EP", ep)
    tests, seen = [], set()
    for _attempt in range(60):
        args = gen(rng, p)
        key = repr(args)
        if key in seen:
            continue
        seen.add(key)
        expected = _run(code, ep, args)
        tests.append(f"assert {ep}({', '.join(repr(a) for a in args)}) == {expected!r}")
        if len(tests) == 3:
            break
    if len(tests) != 3:
        raise RuntimeError(f"{ep}: could not draw 3 distinct test inputs")
    verify(code, tests)
    instruction = rng.choice(prefix or CODE_PREFIX).format(d=desc)
    output = f"{rng.choice(prose or CODE_PROSE)} \n```python\n{code}\n```"
    return {"instruction": instruction, "output": output, "code": code, "entry_point": ep, "testcase": tests}


# --------------------------------------------------- private: a finance team's ledger helpers

# The client's domain: small helpers of a finance team's in-house ledger code, with the team's
# naming convention and data shapes ((category, amount) entries, 'key=value;...' records, cents).
# The public corpus has none of these families, so the public base does not solve them.
CATEGORIES = ["rent", "food", "travel", "fuel", "tax", "salary", "stock", "power", "water", "phone", "legal",
              "repairs", "insurance", "training", "postage", "software"]
FIELDS = ["id", "name", "city", "amount", "currency", "status", "branch", "owner", "date", "ref", "iban", "code"]
CURRENCIES = ["USD", "EUR", "GBP", "CHF", "SEK", "NOK", "DKK", "CAD", "AUD", "NZD", "PLN", "CZK"]


def g_entries(rng, p=None):
    cats = [p] if isinstance(p, str) and p in CATEGORIES else []
    return ([(rng.choice(CATEGORIES + cats * 3), rng.randrange(5, 900)) for _ in range(rng.randint(3, 7))],)


def g_record(rng, p):
    keys = rng.sample(FIELDS, rng.randint(2, 5)) + ([p] if rng.random() < 0.7 else [])
    keys = list(dict.fromkeys(keys))
    rng.shuffle(keys)
    return (";".join(f"{k}={rng.choice(['ana', 'rome', 'x17', 'open', 'paid', 'b12', 'lena', '2024'])}" for k in keys),)


def g_account(rng, p):
    return ("".join(rng.choice("0123456789") for _ in range(rng.randint(max(2, p - 2), p + 6))),)


def g_cents(rng, p):
    return (rng.randrange(0, 500_000),)


def g_amounts(rng, p):
    return ([rng.randrange(1, 5000) / 100 for _ in range(rng.randint(2, 6))],)


def g_day(rng, p):
    return (rng.randint(1, 200),)


def g_digits(rng, p):
    return ("".join(rng.choice("0123456789") for _ in range(rng.randint(4, 12))),)


def g_code(rng, p):
    n = rng.choice([p, p, p - 1, p + 1])
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789" + ("abc" if rng.random() < 0.3 else "")
    return ("".join(rng.choice(alphabet) for _ in range(max(1, n))),)


def g_balances(rng, p):
    names = rng.sample(["ana", "ben", "cara", "dev", "eli", "fay", "gus", "hana", "ivo", "jo", "kai", "lea"], p + 2)
    values = rng.sample(range(100, 100_000), len(names))
    return (dict(zip(names, values)),)


def g_overdue(rng, p):
    ids = rng.sample(range(1000, 9999), rng.randint(3, 7))
    return ([(f"INV{i}", rng.randint(0, 2 * p + 10)) for i in ids],)


def g_prices(rng, p):
    return ([rng.randrange(0, 2000) for _ in range(rng.randint(2, 6))],)


LEDGER_FAMILIES = [
    ("mask_account_keep_{p}", "masks every character of an account number string except the last {p} with '*'",
     "def EP(account):\n    hidden = max(0, len(account) - {p})\n    return '*' * hidden + account[hidden:]", g_account,
     list(range(1, 13))),
    ("ledger_total_{p}", "returns the total amount of the ledger entries in category '{p}', where the entries are (category, amount) pairs",
     "def EP(entries):\n    return sum(amount for category, amount in entries if category == '{p}')", g_entries, CATEGORIES),
    ("ledger_count_over_{p}", "counts the ledger entries, given as (category, amount) pairs, whose amount is larger than {p}",
     "def EP(entries):\n    return sum(1 for category, amount in entries if amount > {p})", g_entries,
     list(range(20, 1000, 5))),
    ("record_field_{p}", "returns the value of the '{p}' field of a record string such as 'id=7;name=ana', or an empty string when the field is missing",
     "def EP(record):\n    for part in record.split(';'):\n        key, _, value = part.partition('=')\n        if key == '{p}':\n            return value\n    return ''",
     g_record, FIELDS),
    ("cents_to_{p}", "formats an amount given in cents as a string with the currency code {p}, such as '{p} 12.05'",
     "def EP(cents):\n    return f'{p} {cents // 100}.{cents % 100:02d}'", g_cents, CURRENCIES),
    ("add_fee_{p}_percent", "adds a fee of {p} percent to every amount in a list and rounds each result to 2 decimals",
     "def EP(amounts):\n    return [round(a * (100 + {p}) / 100, 2) for a in amounts]", g_amounts, list(range(1, 31))),
    ("due_day_net_{p}", "returns the day number on which an invoice issued on a given day number is due under net {p} payment terms",
     "def EP(issue_day):\n    return issue_day + {p}", g_day, list(range(3, 121))),
    ("check_digit_mod_{p}", "computes the check digit of a string of digits as the sum of its digits modulo {p}",
     "def EP(digits):\n    return sum(int(d) for d in digits) % {p}", g_digits, list(range(3, 41))),
    ("valid_product_code_{p}", "checks that a product code has exactly {p} characters, each an uppercase letter or a digit",
     "def EP(code):\n    return len(code) == {p} and all(c.isdigit() or 'A' <= c <= 'Z' for c in code)", g_code,
     list(range(3, 17))),
    ("top_{p}_balances", "returns the names of the {p} clients with the largest balances, largest first, from a dict of name to balance",
     "def EP(balances):\n    ranked = sorted(balances, key=lambda name: balances[name], reverse=True)\n    return ranked[:{p}]",
     g_balances, list(range(1, 11))),
    ("overdue_more_than_{p}", "returns the ids of the invoices that are more than {p} days overdue, from a list of (id, days overdue) pairs",
     "def EP(invoices):\n    return [inv for inv, days in invoices if days > {p}]", g_overdue, list(range(3, 150))),
    ("round_price_to_{p}", "rounds every non-negative whole price in a list to the nearest multiple of {p}, halves rounding up",
     "def EP(prices):\n    return [(x + {p} // 2) // {p} * {p} for x in prices]", g_prices,
     [2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 100, 120, 150, 200, 250, 500]),
]
TICKETS = ["Ticket {tkt} from {name}:", "{name} ({tkt}):", "Request {tkt} by {name}:", "From {name}, ticket {tkt}:"]
LEDGER_PREFIX = ["Write a python function that {d}.", "Write a function that {d}.", "Implement a python function that {d}.",
                 "Create a python function which {d}."]
LEDGER_PROSE = ["Here is the helper for the ledger code:", "This function does it:", "Here is the code:"]


TEST_SHARE = 0.3  # share of each private family's parameter values kept for the test split


def _record(rng, fam, p, prefix, prose, sids, lead=""):
    rec = code_task(rng, fam, p, prefix, prose)
    rec["instruction"] = f"{lead} {rec['instruction']}".strip()
    sid = rng.randrange(10 ** 9, 10 ** 11)
    while sid in sids:
        sid = rng.randrange(10 ** 9, 10 ** 11)
    sids.add(sid)
    return {"seq_id": sid, **rec}


def make(rng, counts: dict, names) -> dict:
    """{split: rows}: public tasks of the public families (one per task); private and test tasks of
    the ledger families, the test split on parameter values held out of the private split."""
    sids: set[int] = set()
    tickets = ticket_ids(rng)
    public_tasks = [(fam, p) for fam in FAMILIES for p in fam[4]]
    rng.shuffle(public_tasks)
    held, kept = {}, {}
    for fam in LEDGER_FAMILIES:
        ps = list(fam[4])
        rng.shuffle(ps)
        cut = max(1, round(TEST_SHARE * len(ps)))
        held[fam[0]], kept[fam[0]] = ps[:cut], ps[cut:]
    # public: every public task once, then again in other wording (and asserts) until the count is reached
    public, seen, i = [], set(), 0
    while len(public) < counts["public"]:
        fam, p = public_tasks[i % len(public_tasks)]
        row = _record(rng, fam, p, CODE_PREFIX, CODE_PROSE, sids)
        if row["instruction"] not in seen:
            seen.add(row["instruction"])
            public.append(row)
        i += 1
    out = {"public": public}

    def ledger_rows(params: dict, n: int) -> list[dict]:
        """``n`` requests: a family uniformly (the team's mix of helpers), then one of its parameters."""
        rows, seen = [], set()
        while len(rows) < n:
            fam = rng.choice(LEDGER_FAMILIES)
            lead = rng.choice(TICKETS).format(tkt=next(tickets), name=next(names))
            row = _record(rng, fam, rng.choice(params[fam[0]]), LEDGER_PREFIX, LEDGER_PROSE, sids, lead)
            if row["instruction"] not in seen:
                seen.add(row["instruction"])
                rows.append(row)
        return rows

    out["test"] = ledger_rows(held, counts["test"])
    out["private"] = ledger_rows(kept, counts["private"])
    return out
