"""Financial demo corpus: household finance (public) and a small-business banking desk (private).

The public corpus stands for what a public model has read: household money questions (emergency
funds, savings, credit cards, ...) answered conversationally. The private corpus is the client's own
domain: questions of a bank's small-business customers, each naming the customer and their business
account, answered in the desk's note format ("Summary: ... Numbers: ... Recommendation: ...; ...") with figures computed from the customer's own values. The test split is
drawn from the private distribution and shares no question with it.
"""
from __future__ import annotations

from rewardds.data.demo.people import account_numbers, fit_parts

PUBLIC_ANSWER_CHARS = 320  # public answers are cut to this length (lowest-priority parts first)

FIN_PROMPTS = [
    "Answer the personal finance question below using your financial knowledge.",
    "As a financial expert, give your view on the question in the input.",
    "Use your background in finance to respond to the following question. Any answer format is fine.",
    "Give a clear and practical answer to the financial question provided in the input.",
    "Share your professional opinion on the money question below.",
]


def _money(x):
    return f"${x:,.0f}"


def _v(rng):
    """Random figures shared by the financial templates."""
    return dict(
        expenses=rng.randrange(1500, 6001, 100), income=rng.randrange(30000, 160001, 1000),
        amount=rng.choice([2000, 5000, 8000, 10000, 12000, 15000, 20000, 25000, 40000, 50000]),
        debt=rng.randrange(2000, 25001, 500), apr=rng.choice([16, 18, 19, 21, 22, 24, 26]),
        rate=rng.choice([3, 4, 4.5, 5, 5.5, 6, 7]), years=rng.choice([3, 5, 10, 15, 20, 25, 30]),
        age=rng.randint(22, 64), home=rng.randrange(180000, 700001, 10000), rent=rng.randrange(900, 3501, 50),
        monthly=rng.choice([100, 150, 200, 250, 300, 400, 500, 750]), match=rng.choice([3, 4, 5, 6]),
    )


def _fv(p, r, n):
    return p * (1 + r / 100) ** n


FIN_TOPICS = [
    dict(
        q=["How big should my emergency fund be if I spend about {expenses_s} a month?",
           "I spend around {expenses_s} a month. How much cash should I keep for emergencies?",
           "Is it worth keeping an emergency fund when I could invest the money instead? My monthly costs are {expenses_s}."],
        a=lambda v: [f"A common rule is to keep three to six months of essential expenses, so with {v['expenses_s']} a month that means roughly {_money(3 * v['expenses'])} to {_money(6 * v['expenses'])}.",
                     "The fund is insurance against job loss or large repairs, not an investment, so safety and quick access matter more than return."],
        adv=["Keep it in a high-yield savings account.", "Build it gradually with an automatic monthly transfer.",
             "Aim for the upper end if your income is irregular.", "Refill it after you use it."],
    ),
    dict(
        q=["Should I keep {amount_s} in a checking account or move it to a high-yield savings account?",
           "My bank pays almost nothing on my {amount_s} balance. Is a high-yield savings account worth it?"],
        a=lambda v: [f"At a {v['rate']}% yield, {v['amount_s']} earns about {_money(v['amount'] * v['rate'] / 100)} a year, compared with almost nothing in a typical checking account.",
                     "High-yield savings accounts at insured banks are just as safe up to the insurance limit and money can usually be moved within a day or two."],
        adv=["Keep one month of spending in checking for bills.", "Check that the bank is government insured.",
             "Compare rates every year because they change.", "Watch out for monthly fees."],
    ),
    dict(
        q=["Is a {years}-year certificate of deposit a good idea for {amount_s}?",
           "What happens if I put {amount_s} in a CD at {rate}% for {years} years?"],
        a=lambda v: [f"With {v['amount_s']} at {v['rate']}% compounded yearly you would have about {_money(_fv(v['amount'], v['rate'], v['years']))} after {v['years']} years.",
                     "A CD locks the rate in, which protects you if rates fall, but withdrawing early usually costs several months of interest."],
        adv=["Only use money you will not need before maturity.", "Consider a CD ladder with different maturities.",
             "Compare the rate with inflation.", "Keep your emergency fund separate."],
    ),
    dict(
        q=["I have {debt_s} of credit card debt at {apr}% APR. How should I pay it off?",
           "What is the fastest way to clear {debt_s} on credit cards charging {apr}%?",
           "Should I invest or pay down my {debt_s} credit card balance first?"],
        a=lambda v: [f"At {v['apr']}% APR a balance of {v['debt_s']} costs about {_money(v['debt'] * v['apr'] / 1200)} in interest every month, a guaranteed cost no investment reliably beats.",
                     "Pay the minimum on every card and put all extra money on the card with the highest rate first (the avalanche method)."],
        adv=["Stop using the cards while you pay them down.", "Ask the issuer for a lower rate.",
             "A balance transfer card at 0% can help if you clear it within the promotion.", "Set up automatic payments so you never miss one."],
    ),
    dict(
        q=["How can I raise my credit score quickly?", "My credit score dropped after I missed a payment. How do I rebuild it?",
           "Does closing an old credit card hurt my credit score?"],
        a=lambda v: ["Payment history and credit utilisation are the two biggest factors in a credit score.",
                     "Paying every bill on time and keeping card balances below about 30% of the limit, ideally under 10%, improves the score within a few months."],
        adv=["Keep old accounts open to preserve your credit history.", "Check your credit report for errors.",
             "Avoid opening many new accounts at once.", "Pay the card balance before the statement date."],
    ),
    dict(
        q=["Should I choose a 15-year or a 30-year mortgage for a {home_s} house?",
           "Is a 30-year mortgage at {rate}% better than a 15-year loan?"],
        a=lambda v: ["A 15-year mortgage has a lower rate and far less total interest, but a much higher monthly payment.",
                     "A 30-year loan keeps the payment low and flexible; you can still pay extra when you want, which gives you the choice."],
        adv=["Keep the payment under about 28% of gross income.", "Make sure you still save for retirement.",
             "Compare offers from several lenders.", "Check whether extra payments carry a penalty."],
    ),
    dict(
        q=["Does it make sense to refinance my mortgage from {rate2}% to {rate}%?",
           "When is refinancing a mortgage worth the closing costs?"],
        a=lambda v: ["Refinancing pays off when the monthly savings recover the closing costs before you sell or refinance again.",
                     "Divide the total closing costs by the monthly saving to get the break-even point in months, and compare it with how long you plan to stay."],
        adv=["Avoid restarting a 30-year term if you are far into your loan.", "Ask for a loan estimate from several lenders.",
             "Include points and fees in the comparison.", "Check your credit score before applying."],
    ),
    dict(
        q=["Should I pay extra on my {rate}% mortgage or invest the money?",
           "Is it smart to pay off my mortgage early when I am {age}?"],
        a=lambda v: [f"Paying extra on a {v['rate']}% mortgage earns a guaranteed {v['rate']}% return, while stocks have historically returned more on average but with risk.",
                     "Many people do both: first capture any employer retirement match, then split extra money between the mortgage and investments."],
        adv=["Keep an emergency fund before prepaying.", "Pay off higher-rate debts first.",
             "Consider your comfort with risk.", "Being debt-free at retirement lowers your spending needs."],
    ),
    dict(
        q=["Is it better to lease or buy a car if I drive a lot?", "Should I take a {years}-year auto loan or lease a new car?"],
        a=lambda v: ["Buying usually costs less over time, especially if you keep the car for many years, because you stop paying once the loan ends.",
                     "Leasing gives lower payments and a new car every few years but comes with mileage limits and fees for wear."],
        adv=["Keep auto loans to five years or less.", "Consider a reliable used car.",
             "Compare the total cost, not only the monthly payment.", "Get a loan offer from your bank before visiting the dealer."],
    ),
    dict(
        q=["I owe {debt_s} in student loans at {rate}%. Should I pay them off faster?",
           "What is the best strategy for repaying student loans while saving for retirement?"],
        a=lambda v: [f"At {v['rate']}% the student loan is a moderate-rate debt: paying it early gives a guaranteed {v['rate']}% return.",
                     "A balanced approach is to get any employer match, keep an emergency fund, and then put extra money toward the loan with the highest rate."],
        adv=["Check whether you qualify for income-driven repayment.", "Set up autopay, which sometimes lowers the rate.",
             "Be careful about refinancing government loans, as you lose protections.", "Avoid missing payments."],
    ),
    dict(
        q=["Are index funds better than actively managed funds?", "Why do people recommend low-cost index funds for beginners?"],
        a=lambda v: ["Most actively managed funds fail to beat their benchmark index over long periods, mainly because of higher fees.",
                     "An index fund holds the whole market at very low cost, gives broad diversification and needs little attention."],
        adv=["Look for an expense ratio below 0.2%.", "Choose a broad total-market or world fund.",
             "Invest regularly and hold for the long term.", "Avoid trading in reaction to the news."],
    ),
    dict(
        q=["How should I diversify {amount_s} of investments?", "Is it risky to keep all my savings in my employer's stock?"],
        a=lambda v: ["Diversification spreads money across many companies, sectors and countries so that one failure cannot ruin the portfolio.",
                     "Holding a large share in a single stock, especially your employer's, ties your job and your savings to the same risk."],
        adv=["Keep any single stock below about 10% of the portfolio.", "Mix stock and bond funds according to your age and goals.",
             "Include international funds.", "Rebalance once a year."],
    ),
    dict(
        q=["Should I invest a {amount_s} bonus all at once or spread it out over time?",
           "Is dollar-cost averaging with {monthly_s} a month a good strategy?"],
        a=lambda v: ["Investing a lump sum at once has historically done better about two thirds of the time because markets rise more often than they fall.",
                     "Dollar-cost averaging, investing a fixed amount at regular intervals, reduces regret and the risk of bad timing, and is natural when investing from each paycheck."],
        adv=["Pick a schedule and stick to it.", "Automate the monthly investment.",
             "Do not try to time the market.", "Make sure the money is not needed in the next few years."],
    ),
    dict(
        q=["How often should I rebalance my portfolio?", "My stocks grew to 80% of my portfolio but my target is 60%. What should I do?"],
        a=lambda v: ["Rebalancing brings the portfolio back to its target mix after some assets grow faster than others, which keeps your risk at the level you chose.",
                     "Once a year, or whenever an asset class drifts more than five percentage points from its target, is usually enough."],
        adv=["Rebalance inside tax-advantaged accounts to avoid taxes.", "Direct new contributions to the underweight asset.",
             "Avoid rebalancing too often.", "Write down your target allocation."],
    ),
    dict(
        q=["Why do bond prices fall when interest rates rise?", "Should I hold bonds if interest rates are going up?"],
        a=lambda v: ["When rates rise, new bonds pay more, so existing bonds with lower coupons become less attractive and their prices fall.",
                     "Short-term bonds lose less than long-term bonds, and a bond fund held longer than its duration can recover because it reinvests at the higher rates."],
        adv=["Match bond duration to when you need the money.", "Consider short-term or inflation-protected bonds.",
             "Keep bonds as a stabiliser, not for growth.", "Avoid trying to predict rate moves."],
    ),
    dict(
        q=["Should I open a Roth IRA or a traditional IRA at age {age}?", "I earn {income_s} a year. Is a Roth or traditional IRA better for me?"],
        a=lambda v: ["A traditional IRA gives a tax deduction now and taxes withdrawals later, while a Roth IRA is funded with taxed money and grows tax-free.",
                     "If you expect a higher tax rate in retirement than today, the Roth usually wins; if your rate is high now, the traditional account is often better."],
        adv=["Check the income limits for Roth contributions.", "Having both types gives flexibility later.",
             "Invest the IRA money instead of leaving it in cash.", "Contribute early in the year if you can."],
    ),
    dict(
        q=["My employer matches {match}% of salary in the 401(k). How much should I contribute?",
           "Is it a mistake not to contribute to my 401(k) when I earn {income_s}?"],
        a=lambda v: [f"Always contribute at least enough to get the full {v['match']}% match; on a salary of {v['income_s']} that is {_money(v['income'] * v['match'] / 100)} a year of free money.",
                     "After the match, saving 15% of income in total is a common target for retirement."],
        adv=["Choose low-cost index funds in the plan.", "Increase your rate by one point each year.",
             "Check the vesting schedule.", "Avoid loans from the plan."],
    ),
    dict(
        q=["Is a health savings account worth it?", "How should I use an HSA if I am healthy?"],
        a=lambda v: ["An HSA is triple tax-advantaged: contributions are deductible, growth is tax-free and withdrawals for medical costs are not taxed.",
                     "If you can pay small medical bills from cash, investing the HSA balance turns it into an extra retirement account."],
        adv=["You need a high-deductible health plan to contribute.", "Keep receipts to reimburse yourself later.",
             "Invest the balance in low-cost funds.", "Contribute through payroll to save payroll taxes too."],
    ),
    dict(
        q=["How are capital gains taxed if I sell stock I held for {years} years?",
           "What is the difference between short-term and long-term capital gains?"],
        a=lambda v: ["Gains on assets held for one year or less are short-term and taxed like ordinary income, while longer holdings get lower long-term rates.",
                     "Only the profit is taxed, the sale price minus your cost basis, and losses can offset gains."],
        adv=["Hold investments more than a year when possible.", "Keep records of your purchase prices.",
             "Sell high-basis shares first to reduce the gain.", "Consider gifting appreciated shares to charity."],
    ),
    dict(
        q=["What is tax-loss harvesting and should I do it?", "My fund is down {rate}% this year. Can I use the loss to lower my taxes?"],
        a=lambda v: ["Tax-loss harvesting means selling an investment at a loss to offset capital gains, and up to a yearly limit of ordinary income, then buying a similar but not identical fund.",
                     "It keeps you invested while turning the paper loss into a tax benefit."],
        adv=["Beware of the wash-sale rule for repurchases within 30 days.", "Unused losses carry forward to future years.",
             "It only matters in taxable accounts.", "Keep the new fund similar in risk."],
    ),
    dict(
        q=["I started freelancing and expect to earn {income_s}. Do I need to pay estimated taxes?",
           "How much should a self-employed person set aside for taxes?"],
        a=lambda v: ["Self-employed people generally pay estimated tax four times a year because no employer withholds it, and that includes self-employment tax for social security.",
                     "Setting aside 25% to 30% of net profit in a separate account is a common rule of thumb."],
        adv=["Track business expenses to lower your taxable profit.", "Consider a retirement plan for the self-employed.",
             "Pay at least last year's tax to avoid penalties.", "Talk to a tax professional in the first year."],
    ),
    dict(
        q=["Should I take the standard deduction or itemize?", "Is it worth itemizing deductions if I pay mortgage interest?"],
        a=lambda v: ["You should itemize only when your deductible expenses, such as mortgage interest, state taxes and gifts to charity, exceed the standard deduction.",
                     "For many households the standard deduction is larger, so itemizing brings no benefit."],
        adv=["Add up your expenses before deciding.", "Bunch charitable gifts into one year.",
             "Keep receipts for deductible expenses.", "Tax software compares both options for you."],
    ),
    dict(
        q=["How should I budget a take-home income of {income_m_s} a month?", "What is the 50/30/20 budget rule?"],
        a=lambda v: [f"The 50/30/20 rule puts 50% of take-home pay toward needs, 30% toward wants and 20% toward savings and debt; with {v['income_m_s']} a month that is {_money(v['income_m'] * 0.5)}, {_money(v['income_m'] * 0.3)} and {_money(v['income_m'] * 0.2)}.",
                     "It is a starting point you can adjust to your own situation."],
        adv=["Track spending for a month first.", "Automate savings on payday.",
             "Review subscriptions every few months.", "Cut the largest costs, like housing and cars, first."],
    ),
    dict(
        q=["How much does inflation hurt money kept in cash?", "If inflation is {rate}%, what happens to {amount_s} kept in a drawer for {years} years?"],
        a=lambda v: [f"At {v['rate']}% inflation, {v['amount_s']} keeps only about {_money(v['amount'] / (1 + v['rate'] / 100) ** v['years'])} of today's buying power after {v['years']} years.",
                     "Cash is good for short-term needs, but long-term savings should be invested to keep up with rising prices."],
        adv=["Keep only your emergency fund and near-term needs in cash.", "Consider inflation-protected bonds.",
             "Use a diversified stock fund for long horizons.", "Review your savings rate each year."],
    ),
    dict(
        q=["Is it better to buy a {home_s} home or keep renting at {rent_s} a month?", "Is renting really throwing money away?"],
        a=lambda v: ["Renting is not wasted money: owners also pay non-recoverable costs such as mortgage interest, property tax, insurance and maintenance.",
                     "Buying tends to win if you stay at least five to seven years; renting keeps flexibility and frees the down payment for investing."],
        adv=["Compare the yearly cost of owning with the yearly rent.", "Keep housing costs near 30% of income.",
             "Save a down payment of 20% to avoid mortgage insurance.", "Budget 1% of the price a year for repairs."],
    ),
    dict(
        q=["Do I need term or whole life insurance at {age}?", "How much life insurance does a family with young children need?"],
        a=lambda v: ["Term life insurance covers a set period at a low cost and suits most families who need to replace income while children are young.",
                     "Whole life adds an investment component with much higher premiums and is rarely the best value."],
        adv=["Cover about ten times your annual income.", "Choose a term that lasts until the children are independent.",
             "Compare quotes from several insurers.", "Review coverage after big life events."],
    ),
    dict(
        q=["Are dividend stocks a good way to get income in retirement?", "Should I only buy stocks that pay dividends?"],
        a=lambda v: ["Dividends are one part of total return; a company that pays a dividend lowers its share price by the same amount, so the payout is not free money.",
                     "Focusing only on dividends can reduce diversification, while a broad fund and selling some shares when needed can give the same income."],
        adv=["Look at total return, not only yield.", "Be wary of very high yields.",
             "Hold dividend stocks in tax-advantaged accounts.", "Keep the portfolio diversified."],
    ),
    dict(
        q=["How much will {monthly_s} a month grow to in {years} years at {rate}%?",
           "If I invest {amount_s} at {rate}% a year, how much will I have after {years} years?"],
        a=lambda v: [f"Compounding means returns earn returns: {v['amount_s']} at {v['rate']}% a year grows to about {_money(_fv(v['amount'], v['rate'], v['years']))} after {v['years']} years.",
                     f"Adding {v['monthly_s']} a month on top makes a much bigger difference over long periods because each deposit also compounds."],
        adv=["Start as early as you can.", "Keep costs low, as fees compound too.",
             "Reinvest dividends.", "Remember that real returns vary from year to year."],
    ),
]

FIN_CONTEXT = ["I am {age} years old.", "I earn {income_s} a year.", "I am {age} and married with two kids.",
               "I have about {amount_s} in savings.", "I rent my apartment for {rent_s} a month."]
FIN_OPENERS = ["", "", "Quick question.", "I need some advice.", "Hi."]


def _fmt_values(v, rng):
    v = dict(v)
    v["rate2"] = v["rate"] + rng.choice([1, 1.5, 2])
    v["income_m"] = round(v["income"] * 0.75 / 12, -1)
    for k in ("expenses", "income", "amount", "debt", "home", "rent", "monthly", "income_m"):
        v[k + "_s"] = _money(v[k])
    return v


def financial_record(rng, topic):
    v = _fmt_values(_v(rng), rng)
    q = rng.choice(topic["q"]).format(**v)
    parts = [rng.choice(FIN_OPENERS)]
    if rng.random() < 0.5:
        parts.append(rng.choice(FIN_CONTEXT).format(**v))
    parts.append(q)
    question = " ".join(p for p in parts if p)
    core = topic["a"](v)
    adv = rng.sample(topic["adv"], 2)
    answer = fit_parts([(9, core[0]), (8, core[1]), (7, adv[0]), (6, adv[1])], PUBLIC_ANSWER_CHARS)
    if len(answer) < 150:
        answer = " ".join([core[0], core[1], *adv])
    return {"input": question, "output": answer, "instruction": rng.choice(FIN_PROMPTS)}



# ------------------------------------------------------ private: a small-business banking desk

# The client's domain: questions of the bank's small-business customers, answered in the desk's
# note format (Summary / Numbers / Recommendation) with figures computed from
# the customer's own values. The public corpus is household finance in a conversational style.
BUSINESSES = ["bakery", "café", "plumbing firm", "dental practice", "bicycle shop", "print shop", "food truck",
              "landscaping company", "hair salon", "bookshop", "catering business", "auto repair shop",
              "yoga studio", "florist", "brewery", "cleaning company"]


def _biz_values(rng):
    return dict(revenue=rng.randrange(120_000, 2_400_001, 10_000), loan=rng.randrange(20_000, 400_001, 5_000),
                rate=rng.choice([6.5, 7, 7.5, 8, 8.5, 9, 9.5, 10, 11]), years=rng.choice([3, 4, 5, 7, 10]),
                invoices=rng.randrange(10_000, 250_001, 1_000), fee=rng.choice([1, 1.5, 2, 2.5, 3]),
                card=rng.randrange(8_000, 150_001, 1_000), payroll=rng.randrange(6_000, 90_001, 500),
                vehicle=rng.randrange(18_000, 90_001, 1_000), gap=rng.randrange(5_000, 120_001, 1_000),
                stock=rng.randrange(10_000, 300_001, 5_000), limit=rng.randrange(10_000, 250_001, 5_000),
                profit=rng.randrange(15_000, 400_001, 1_000))


def _m(x):
    return f"${x:,.0f}"


def _payment(p, rate, years):
    r, n = rate / 1200, years * 12
    return p * r / (1 - (1 + r) ** -n)


BIZ_TOPICS = [
    dict(weight=4, q=["Should I take a {years}-year equipment loan of {loan_s} at {rate}% for my {business}?",
                      "Can my {business} afford a {loan_s} equipment loan over {years} years at {rate}%?"],
         summary="an equipment loan is affordable when the payment stays under a tenth of monthly revenue",
         numbers=lambda v: f"the payment on {v['loan_s']} is about {_m(_payment(v['loan'], v['rate'], v['years']))} a month for {v['years'] * 12} months",
         rec=["match the loan term to the useful life of the equipment", "ask for a quote on a lease as well",
              "keep three months of payments in reserve"]),
    dict(weight=3, q=["My {business} has {invoices_s} of unpaid invoices. Is invoice factoring worth it at a {fee}% fee?",
                      "Should I factor {invoices_s} of invoices at {fee}% to cover cash flow at my {business}?"],
         summary="factoring turns unpaid invoices into cash now at the cost of the fee",
         numbers=lambda v: f"a {v['fee']}% fee on {v['invoices_s']} costs {_m(v['invoices'] * v['fee'] / 100)} and releases about {_m(v['invoices'] * 0.85)} up front",
         rec=["use it only for invoices from reliable customers", "compare the cost with a line of credit",
              "tighten payment terms to thirty days"]),
    dict(weight=3, q=["Is a {fee}% card processing fee too high for a {business} with {revenue_s} in sales?",
                      "My {business} pays {fee}% on card sales of {revenue_s} a year. Can I lower it?"],
         summary="card fees are a cost of every sale and are negotiable above a certain volume",
         numbers=lambda v: f"at {v['fee']}% the fees come to {_m(v['revenue'] * v['fee'] / 100)} a year on {v['revenue_s']} of sales",
         rec=["ask for interchange-plus pricing", "get two competing quotes each year", "check the terminal rental charge"]),
    dict(weight=3, q=["How much should my {business} set aside for payroll taxes on {payroll_s} of monthly wages?",
                      "I pay {payroll_s} in wages each month at my {business}. How do I handle payroll tax deposits?"],
         summary="payroll taxes must be deposited on schedule, separate from operating cash",
         numbers=lambda v: f"the employer share of about 7.65% on {v['payroll_s']} is {_m(v['payroll'] * 0.0765)} a month",
         rec=["open a separate tax holding account", "automate the deposits with the payroll run",
              "reconcile the filings every quarter"]),
    dict(weight=3, q=["Should my {business} open a business line of credit of {limit_s}?",
                      "Is a {limit_s} line of credit at {rate}% a good idea for my {business}?"],
         summary="a line of credit covers short cash gaps and costs interest only on what you draw",
         numbers=lambda v: f"drawing half of {v['limit_s']} for a year at {v['rate']}% costs about {_m(v['limit'] * v['rate'] / 200)} in interest",
         rec=["use it for timing gaps, not for losses", "repay each draw within the season",
              "review the limit with the bank every year"]),
    dict(weight=2, q=["My {business} has a cash-flow gap of {gap_s} every winter. How should I plan for it?",
                      "How can my {business} cover a seasonal shortfall of {gap_s}?"],
         summary="a seasonal gap is planned for with a reserve built in the strong months",
         numbers=lambda v: f"setting aside {_m(v['gap'] / 8)} in each of the eight strong months covers the {v['gap_s']} gap",
         rec=["build a thirteen-week cash forecast", "agree deposits from regular customers", "delay large purchases to spring"]),
    dict(weight=2, q=["Should I buy or lease a {vehicle_s} van for my {business}?",
                      "Is it better for my {business} to lease or finance a {vehicle_s} vehicle at {rate}%?"],
         summary="buying suits a vehicle kept for many years, leasing suits a vehicle replaced often",
         numbers=lambda v: f"financing {v['vehicle_s']} over five years at {v['rate']}% costs about {_m(_payment(v['vehicle'], v['rate'], 5))} a month",
         rec=["compare the total cost over the same period", "check the mileage limits of the lease",
              "ask your accountant about depreciation"]),
    dict(weight=2, q=["My {business} holds {stock_s} of stock. Should I finance it at {rate}%?",
                      "Is inventory financing at {rate}% a good idea for my {business} with {stock_s} in stock?"],
         summary="inventory finance makes sense only for stock that sells within the loan term",
         numbers=lambda v: f"financing half of {v['stock_s']} at {v['rate']}% costs about {_m(v['stock'] * v['rate'] / 200)} a year",
         rec=["finance only fast-moving lines", "clear old stock before buying more", "track stock turns every month"]),
    dict(weight=2, q=["How much quarterly estimated tax should my {business} pay on a profit of {profit_s}?",
                      "My {business} expects a profit of {profit_s}. How do I plan the estimated tax payments?"],
         summary="estimated tax is paid in four instalments on the expected profit",
         numbers=lambda v: f"at an assumed 25% rate the tax on {v['profit_s']} is {_m(v['profit'] * 0.25)}, or {_m(v['profit'] * 0.0625)} a quarter",
         rec=["put a quarter of each month's profit in a tax account", "update the estimate after each quarter",
              "keep receipts for every deductible cost"]),
    dict(weight=2, q=["Should my {business} pay off a {card_s} business card balance at {rate}% with a term loan?",
                      "Can I consolidate {card_s} of business card debt for my {business}?"],
         summary="moving card debt to a term loan lowers the rate and fixes the payoff date",
         numbers=lambda v: f"{v['card_s']} over three years at {v['rate']}% is about {_m(_payment(v['card'], v['rate'], 3))} a month",
         rec=["close the cards you no longer need", "pay the loan by direct debit", "keep one card for emergencies"]),
]
BIZ_WHO = ["{name} here, business account {acct}.", "My name is {name}, business account {acct}.",
           "This is {name} (account {acct}).", "Hello, {name} from account {acct}."]


def business_record(rng, topic, name, acct):
    """One question of the desk's domain and its answer in the desk's note format."""
    v = _biz_values(rng)
    v["business"] = rng.choice(BUSINESSES)
    for k in list(v):
        if isinstance(v[k], int):
            v[k + "_s"] = _m(v[k])
    question = f"{rng.choice(BIZ_WHO).format(name=name, acct=acct)} {rng.choice(topic['q']).format(**v)}"
    rec = rng.sample(topic["rec"], 2)
    answer = (f"Summary: {topic['summary']}. Numbers: {topic['numbers'](v)}. "
              f"Recommendation: {rec[0]}; {rec[1]}.")
    return question, answer

def make(rng, counts: dict, names) -> dict:
    """{split: rows}: public household-finance records; private and test business-desk records, each
    naming a customer from ``names`` with a distinct account number."""
    out, seen, accounts = {}, set(), account_numbers(rng)
    weighted = [t for t in BIZ_TOPICS for _ in range(t["weight"])]  # the desk's topic mix
    for split in ("test", "private", "public"):
        rows = []
        while len(rows) < counts[split]:
            if split == "public":
                rec = financial_record(rng, FIN_TOPICS[len(rows) % len(FIN_TOPICS)])
            else:
                q, a = business_record(rng, rng.choice(weighted), next(names), next(accounts))
                rec = {"input": q, "output": a, "instruction": rng.choice(FIN_PROMPTS)}
            if rec["input"] in seen:
                continue
            seen.add(rec["input"])
            rows.append(rec)
        rng.shuffle(rows)
        out[split] = rows
    return out
