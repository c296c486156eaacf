"""Medical demo corpus: general-practice questions (public) and a travel-medicine clinic (private).

The public corpus stands for what a public model has read: common complaints answered in a
conversational forum style. The private corpus is the client's own domain, which no public text
covers: illnesses of returning travellers (malaria, dengue, schistosomiasis, ...), answered in the
clinic's note format ("Assessment: ... Plan: ...; ... Treatment: ..."). Every private and test question names a made-up patient and a trip;
the test split is drawn from the private distribution and shares no question with it.
"""
from __future__ import annotations

from rewardds.data.demo.people import fit_parts

DOCTOR_PROMPT = "You are a doctor: answer the patient's medical question using the description they give."

CONDITIONS = [
    dict(
        symptoms=["a dull pressure across my forehead", "a tight band-like feeling around my head",
                  "aching at the back of my neck", "headaches that get worse towards the evening"],
        context=["I sit in front of a computer most of the day.", "Work has been very stressful lately."],
        cause="This sounds like a tension-type headache, which is usually linked to tight neck and scalp muscles, stress, poor posture and short sleep.",
        advice=["take regular breaks from the screen", "keep the screen at eye level", "drink enough water",
                "do gentle neck stretches twice a day", "keep a regular sleep schedule"],
        medicine="Paracetamol or ibuprofen can be taken now and then, but not on more than two or three days a week, because frequent use can itself cause headaches.",
        tests="Usually no tests are needed, though it is worth checking your blood pressure and eyesight.",
        serious="This is usually not serious.",
        red="Please see a doctor at once if a headache is sudden and severe or comes with fever, weakness or confusion.",
    ),
    dict(
        symptoms=["a throbbing pain on one side of my head", "sensitivity to bright light",
                  "nausea during the headache", "flashing zigzag lines before the pain starts"],
        context=["The attacks last several hours.", "My mother also had bad headaches."],
        cause="Your symptoms fit migraine, a recurrent headache disorder that often runs in families and can be set off by missed meals, poor sleep, stress or hormonal changes.",
        advice=["keep a headache diary to find your triggers", "rest in a dark quiet room during an attack",
                "avoid skipping meals", "limit caffeine and alcohol", "sleep at regular hours"],
        medicine="An anti-inflammatory such as ibuprofen taken early in the attack often helps; if attacks are frequent, a doctor can prescribe a triptan or a preventive medicine.",
        tests="A scan is rarely needed when the neurological examination is normal.",
        serious="Migraine is painful but usually not dangerous.",
        red="Get urgent care if you have the worst headache of your life, weakness on one side or trouble speaking.",
    ),
    dict(
        symptoms=["a burning feeling behind my breastbone", "a sour taste in my mouth",
                  "burning in my chest after meals", "a burning sensation when I lie down at night"],
        context=["I often eat late in the evening.", "I drink several cups of coffee a day."],
        cause="This is most likely acid reflux, where stomach acid flows back into the food pipe, often made worse by large or late meals, coffee, alcohol, smoking and extra weight.",
        advice=["eat smaller meals", "avoid eating in the three hours before bed", "raise the head of your bed",
                "cut down on coffee, alcohol and spicy food", "lose some weight if you are overweight"],
        medicine="An antacid gives quick relief, and a short course of a proton pump inhibitor such as omeprazole before breakfast can heal the irritation.",
        tests="If it does not settle within a few weeks, an endoscopy and a test for Helicobacter pylori can be done.",
        serious="Reflux is common and usually not serious.",
        red="See a doctor soon if you have trouble swallowing, vomit blood, have black stools or lose weight without trying.",
    ),
    dict(
        symptoms=["pain in my lower back", "stiffness in my lower back in the morning",
                  "back pain when I bend forward", "a pulling pain in my lower back after lifting"],
        context=["I lifted some heavy boxes when I moved house.", "I work long shifts standing up."],
        cause="This appears to be a muscular strain of the lower back, which is very common after lifting, twisting or long periods in one position and usually improves within a few weeks.",
        advice=["stay gently active rather than resting in bed", "apply a warm pack for twenty minutes",
                "avoid heavy lifting for a while", "start core strengthening exercises once the pain eases",
                "check your posture while sitting"],
        medicine="Ibuprofen or another anti-inflammatory taken with food for a few days can reduce the pain, and a muscle relaxant may help for a short time.",
        tests="An X-ray or MRI is not needed at first unless the pain lasts beyond six weeks.",
        serious="This is usually not a serious problem.",
        red="Seek help quickly if you have numbness around the groin, loss of bladder control or weakness in the legs.",
    ),
    dict(
        symptoms=["sneezing fits every morning", "a runny nose with clear watery discharge",
                  "itchy watery eyes", "a blocked nose that is worse outdoors"],
        context=["It happens every spring.", "We recently got a cat."],
        cause="These symptoms point to allergic rhinitis, an allergy of the nose lining to things like pollen, dust mites or pet dander.",
        advice=["keep windows closed on high pollen days", "rinse your nose with salt water",
                "wash bedding every week in hot water", "shower after being outdoors", "keep pets out of the bedroom"],
        medicine="A non-drowsy antihistamine such as cetirizine or loratadine and a steroid nasal spray used every day usually control the symptoms well.",
        tests="An allergy skin test or blood test can identify exactly what you react to.",
        serious="Hay fever is a nuisance but not dangerous.",
        red="If you also get wheezing or shortness of breath, please see a doctor because allergies can come with asthma.",
    ),
    dict(
        symptoms=["a sore throat and a runny nose", "a mild fever and body aches", "a blocked nose and sneezing",
                  "a tickly cough and tiredness"],
        context=["Several people at my office are sick.", "My children had a cold last week."],
        cause="This looks like a common viral cold, which normally clears up on its own in seven to ten days; antibiotics do not work against viruses.",
        advice=["rest as much as you can", "drink plenty of warm fluids", "gargle with warm salt water",
                "use steam inhalation for the blocked nose", "wash your hands often to protect others"],
        medicine="Paracetamol can ease the fever and aches, and lozenges or honey in warm water soothe the throat.",
        tests="No tests are needed for a simple cold.",
        serious="A cold is not serious in a healthy adult.",
        red="See a doctor if the fever lasts more than three days, you become short of breath or you feel much worse after starting to improve.",
    ),
    dict(
        symptoms=["burning when I pass urine", "a frequent urge to urinate", "cloudy urine with a strong smell",
                  "pain in my lower belly when I urinate"],
        context=["I have had this once before.", "I have not been drinking much water."],
        cause="These are typical symptoms of a urinary tract infection, usually a bladder infection caused by bacteria from the bowel.",
        advice=["drink plenty of water", "do not hold urine for long", "empty your bladder after intercourse",
                "avoid scented soaps in the genital area", "wipe from front to back"],
        medicine="A doctor can prescribe a short course of a suitable antibiotic such as nitrofurantoin after a urine test; paracetamol helps the pain meanwhile.",
        tests="A urine culture will confirm the infection and show which antibiotic works.",
        serious="A simple bladder infection is easy to treat.",
        red="Go to a doctor the same day if you get fever, back pain near the kidneys or vomiting, as the infection may have reached the kidneys.",
    ),
    dict(
        symptoms=["constant tiredness", "looking pale", "getting short of breath on the stairs",
                  "dizziness when I stand up quickly", "brittle nails and hair loss"],
        context=["My periods are very heavy.", "I follow a vegetarian diet."],
        cause="Your symptoms suggest iron deficiency anemia, a low level of red blood cells often caused by heavy periods, a diet low in iron or slow blood loss from the gut.",
        advice=["eat more iron-rich foods such as lentils, spinach and red meat", "take vitamin C with meals to absorb iron",
                "avoid tea with meals", "have the cause of any blood loss checked"],
        medicine="Iron tablets taken once a day, or every other day, for about three months usually correct the level; they can darken the stools.",
        tests="A full blood count and a ferritin test will confirm it.",
        serious="It is treatable, but the cause should always be found.",
        red="See a doctor soon if you notice black stools or blood in the stools.",
    ),
    dict(
        symptoms=["trouble falling asleep at night", "waking up at three in the morning",
                  "feeling unrefreshed after sleep", "lying awake with racing thoughts"],
        context=["I use my phone in bed.", "I work night shifts some weeks."],
        cause="This sounds like insomnia, which is most often related to stress, irregular sleep times, screens in the evening, caffeine or worry about sleep itself.",
        advice=["go to bed and wake up at the same time every day", "avoid screens for an hour before bed",
                "stop caffeine after midday", "keep the bedroom cool and dark", "get up if you cannot sleep after twenty minutes"],
        medicine="Sleeping pills are only for short use; melatonin may help some people, and cognitive behavioural therapy for insomnia works best in the long run.",
        tests="Tests are rarely needed, but thyroid tests are reasonable if you also have other symptoms.",
        serious="Insomnia is common and usually improves with good habits.",
        red="Talk to a doctor if you feel low or hopeless most days, or if someone notices you stop breathing in your sleep.",
    ),
    dict(
        symptoms=["dry itchy patches on the inside of my elbows", "red scaly skin on my hands",
                  "itching that is worse at night", "rough cracked skin on my wrists"],
        context=["I had asthma as a child.", "It gets worse in winter."],
        cause="This looks like eczema, or atopic dermatitis, a long-term condition in which the skin barrier is weak and dries out and becomes inflamed easily.",
        advice=["apply a thick fragrance-free moisturiser twice a day", "use a soap substitute", "take short lukewarm showers",
                "wear cotton instead of wool", "keep your nails short to avoid scratching damage"],
        medicine="A mild steroid cream such as hydrocortisone for one to two weeks calms flares, and an antihistamine at night can reduce itching.",
        tests="No tests are usually needed; patch testing helps if a contact allergy is suspected.",
        serious="Eczema is not contagious and not dangerous.",
        red="See a doctor if the patches weep, crust or become painful, which may mean infection.",
    ),
    dict(
        symptoms=["watery diarrhoea", "vomiting and stomach cramps", "loose stools several times a day",
                  "nausea and loss of appetite"],
        context=["It started after eating at a restaurant.", "Other people in my family have the same."],
        cause="This is most likely gastroenteritis, an infection of the stomach and bowel from a virus or contaminated food, which usually settles within a few days.",
        advice=["sip oral rehydration solution often", "eat small bland meals like rice and bananas",
                "avoid dairy, fatty food and alcohol for a few days", "wash your hands carefully", "rest at home until it stops"],
        medicine="Oral rehydration salts are the main treatment; loperamide can reduce diarrhoea in adults if there is no fever or blood.",
        tests="A stool test is only needed if it lasts more than a week or there is blood.",
        serious="It is usually self-limiting.",
        red="Get medical care quickly if you cannot keep fluids down, pass very little urine, or see blood in the stool.",
    ),
    dict(
        symptoms=["pressure around my cheeks and eyes", "a thick yellow discharge from my nose",
                  "facial pain when I bend forward", "a blocked nose and reduced sense of smell"],
        context=["It started after a cold.", "This is the third time this year."],
        cause="These symptoms suggest sinusitis, an inflammation of the sinuses that usually follows a cold and is most often viral.",
        advice=["rinse your nose with saline twice a day", "breathe in steam", "drink plenty of fluids",
                "sleep with your head raised", "avoid cigarette smoke"],
        medicine="A steroid nasal spray and paracetamol help; antibiotics are only needed if it lasts beyond ten days or gets worse after improving.",
        tests="A CT scan is only considered when it keeps coming back.",
        serious="Sinusitis is usually not serious.",
        red="See a doctor urgently if you have swelling around the eye, double vision or a severe headache.",
    ),
    dict(
        symptoms=["blood pressure readings around 150 over 95", "occasional headaches in the morning",
                  "high readings on my home blood pressure monitor", "a pounding feeling in my head when stressed"],
        context=["My father had a stroke.", "I am a bit overweight."],
        cause="Repeated readings at this level mean high blood pressure, which often has no symptoms but raises the risk of heart disease and stroke over time.",
        advice=["reduce salt in your diet", "walk briskly for thirty minutes most days", "lose weight if needed",
                "limit alcohol", "stop smoking", "measure your pressure at home twice a day for a week"],
        medicine="If lifestyle changes are not enough, a doctor may start a tablet such as amlodipine or an ACE inhibitor.",
        tests="Blood tests for kidney function, cholesterol and sugar and an ECG are usually done.",
        serious="It needs treatment, but it can be controlled well.",
        red="Seek urgent care for chest pain, a severe headache or blurred vision with a very high reading.",
    ),
    dict(
        symptoms=["constant thirst", "passing urine very often", "a fasting blood sugar of 140",
                  "tiredness and blurred vision"],
        context=["My mother has diabetes.", "I have gained weight in the last years."],
        cause="These findings raise the possibility of type 2 diabetes, where the body does not use insulin properly and blood sugar stays high.",
        advice=["cut down on sugary drinks and white bread", "fill half your plate with vegetables",
                "be active for at least 150 minutes a week", "aim for gradual weight loss", "check your feet daily"],
        medicine="If it is confirmed, metformin is usually the first medicine, together with diet and exercise.",
        tests="An HbA1c blood test and a repeat fasting sugar will confirm the diagnosis.",
        serious="It is a long-term condition that needs follow-up, but good control prevents complications.",
        red="See a doctor quickly if you feel very drowsy, vomit or breathe fast.",
    ),
    dict(
        symptoms=["a sharp pain in my heel with the first steps in the morning", "pain under my heel after standing",
                  "heel pain that eases after walking a bit", "tenderness on the bottom of my foot"],
        context=["I recently started running.", "I stand all day at work."],
        cause="This is typical of plantar fasciitis, an irritation of the thick band of tissue under the foot that is common in runners and people who stand a lot.",
        advice=["stretch your calves and the sole of your foot every morning", "wear supportive shoes with cushioned heels",
                "roll a frozen water bottle under your foot", "reduce running for a few weeks", "avoid walking barefoot"],
        medicine="Ibuprofen for a short time can ease the pain; a steroid injection is only considered if nothing else helps.",
        tests="An X-ray is usually not needed.",
        serious="It is not serious but can take several months to settle.",
        red="See a doctor if the heel is swollen and red or you cannot put weight on it.",
    ),
    dict(
        symptoms=["a swollen ankle after twisting it", "bruising on the outside of my ankle",
                  "pain when I put weight on my ankle", "ankle pain after a fall during football"],
        context=["It happened two days ago.", "I can still walk with a limp."],
        cause="This sounds like an ankle sprain, a stretch or tear of the ligaments on the outer side of the ankle.",
        advice=["rest and protect the ankle", "apply ice for fifteen minutes every few hours", "use a compression bandage",
                "keep the foot raised", "start gentle movement after two or three days"],
        medicine="Paracetamol or ibuprofen can help with pain and swelling for the first few days.",
        tests="An X-ray is needed if you cannot take four steps or the bone itself is tender.",
        serious="Most sprains heal within a few weeks.",
        red="See a doctor if the foot becomes numb or cold, or the ankle looks deformed.",
    ),
    dict(
        symptoms=["red itchy eyes", "a sticky discharge that glues my eyelids in the morning",
                  "a gritty feeling in one eye", "watery red eyes"],
        context=["My son had the same last week.", "I wear contact lenses."],
        cause="This is most likely conjunctivitis, an inflammation of the thin layer covering the white of the eye, caused by a virus, bacteria or allergy.",
        advice=["clean your eyelids with cooled boiled water", "do not share towels", "wash your hands after touching your eyes",
                "stop wearing contact lenses until it clears", "use a cool compress"],
        medicine="Lubricating eye drops help; antibiotic drops are used only when the discharge is thick and yellow.",
        tests="No tests are usually needed.",
        serious="It usually clears in one to two weeks.",
        red="See an eye doctor urgently if you have eye pain, sensitivity to light or reduced vision.",
    ),
    dict(
        symptoms=["pimples on my forehead and chin", "painful red bumps on my cheeks",
                  "blackheads on my nose", "breakouts before my period"],
        context=["I have oily skin.", "I have tried many face washes."],
        cause="This is acne, caused by blocked and inflamed oil glands, influenced by hormones, oily skin and bacteria on the skin.",
        advice=["wash your face twice a day with a gentle cleanser", "avoid squeezing the spots",
                "use oil-free moisturiser and make-up", "change your pillowcase often", "be patient, as treatments take eight weeks to work"],
        medicine="A gel with benzoyl peroxide or adapalene at night works for mild acne; a doctor can add antibiotic tablets for more severe cases.",
        tests="Hormone tests are only needed if periods are irregular or there is excess hair growth.",
        serious="Acne is very common and treatable.",
        red="See a dermatologist if you have deep painful lumps or scarring.",
    ),
    dict(
        symptoms=["bloating after meals", "cramping belly pain that eases after a bowel movement",
                  "alternating constipation and diarrhoea", "a lot of gas"],
        context=["It is worse when I am stressed.", "I have had this on and off for years."],
        cause="Your description fits irritable bowel syndrome, a common problem of how the gut moves and senses, often linked to stress and certain foods.",
        advice=["eat regular meals", "keep a food diary", "try reducing gas-forming foods such as beans and onions",
                "add soluble fibre such as oats", "exercise regularly", "find ways to manage stress"],
        medicine="Peppermint oil capsules can ease cramps; a doctor may suggest a laxative or an antispasmodic depending on the main symptom.",
        tests="Blood tests for anemia and celiac disease help rule out other causes.",
        serious="IBS is uncomfortable but does not damage the bowel.",
        red="See a doctor if you lose weight, see blood in the stool or are over fifty with new symptoms.",
    ),
    dict(
        symptoms=["feeling cold all the time", "weight gain without eating more", "dry skin and constipation",
                  "slowness and low energy"],
        context=["My sister has a thyroid problem.", "I had a baby a few months ago."],
        cause="These symptoms can be caused by an underactive thyroid, where the gland makes too little hormone and the body slows down.",
        advice=["get your thyroid checked before changing anything", "keep a balanced diet", "exercise gently and regularly",
                "note your symptoms to discuss with the doctor"],
        medicine="If confirmed, a daily levothyroxine tablet taken on an empty stomach replaces the missing hormone.",
        tests="A TSH and free T4 blood test will show whether the thyroid is underactive.",
        serious="It is easy to treat once diagnosed.",
        red="See a doctor soon if you notice a swelling in the neck or feel very drowsy.",
    ),
    dict(
        symptoms=["a racing heart when I am nervous", "sudden attacks of fear with sweating",
                  "constant worry that I cannot control", "tight chest and shaky hands in crowded places"],
        context=["I have a lot of pressure at work.", "My heart tests were normal."],
        cause="This sounds like anxiety, possibly with panic attacks, which produce strong physical symptoms through the body's stress response.",
        advice=["practise slow breathing, in for four seconds and out for six", "exercise regularly",
                "cut down on caffeine and alcohol", "keep a regular sleep routine", "talk to someone you trust"],
        medicine="Cognitive behavioural therapy is the first choice; a doctor may also offer an SSRI if symptoms are severe.",
        tests="A blood count and thyroid test can exclude physical causes.",
        serious="Anxiety is very treatable.",
        red="If you ever have thoughts of harming yourself, seek help right away.",
    ),
    dict(
        symptoms=["wheezing at night", "a dry cough that gets worse with exercise",
                  "tightness in my chest when it is cold", "shortness of breath when climbing stairs"],
        context=["I had eczema as a child.", "I live with a smoker."],
        cause="These symptoms suggest asthma, in which the airways become narrow and irritable in response to triggers like cold air, exercise, dust or smoke.",
        advice=["avoid smoke and known triggers", "warm up before exercise", "keep your home free of dust",
                "have a written asthma action plan", "get a yearly flu vaccine"],
        medicine="A reliever inhaler such as salbutamol helps during symptoms, and a regular steroid inhaler is needed if you use the reliever often.",
        tests="Spirometry, a breathing test, will confirm the diagnosis.",
        serious="Asthma is well controlled with the right inhalers.",
        red="Go to emergency care if you cannot speak in full sentences or your lips turn blue.",
    ),
    dict(
        symptoms=["knee pain when climbing stairs", "stiffness in my knees after sitting",
                  "a grinding feeling in my knee", "swelling of my knee after walking"],
        context=["I am overweight.", "I used to play a lot of football."],
        cause="This is most likely osteoarthritis of the knee, a wear-related change of the joint cartilage that is common with age and extra weight.",
        advice=["keep active with low-impact exercise like cycling or swimming", "strengthen your thigh muscles",
                "lose weight if needed", "wear cushioned shoes", "use a walking stick on bad days"],
        medicine="Paracetamol or an anti-inflammatory gel rubbed on the knee helps the pain.",
        tests="An X-ray of the knee can show the extent of the changes.",
        serious="It is a long-term condition but exercise helps a lot.",
        red="See a doctor promptly if the knee becomes hot, red and very swollen.",
    ),
    dict(
        symptoms=["aching bones", "muscle weakness", "low mood in winter", "frequent colds and tiredness"],
        context=["I rarely go outside.", "I work indoors all day."],
        cause="These symptoms may be due to low vitamin D, which is common in people who get little sunlight.",
        advice=["spend some time outdoors in daylight", "eat oily fish and eggs", "keep active", "follow up with your doctor"],
        medicine="A vitamin D supplement of about 1000 units a day is safe for most adults; higher doses need a doctor's advice.",
        tests="A blood test for 25-hydroxy vitamin D will show your level.",
        serious="It is easy to correct.",
        red="See a doctor if you have bone pain that keeps you awake.",
    ),
    dict(
        symptoms=["a very sore throat", "pain when swallowing", "swollen glands in my neck", "white spots on my tonsils"],
        context=["I have had fever since yesterday.", "I get this every winter."],
        cause="This looks like tonsillitis, an infection of the tonsils that is mostly viral but sometimes caused by streptococcus bacteria.",
        advice=["drink plenty of fluids", "gargle with warm salt water", "eat soft cool foods", "rest your voice"],
        medicine="Paracetamol or ibuprofen relieve pain and fever; antibiotics are given only when a strep infection is likely.",
        tests="A throat swab or a rapid strep test can show whether bacteria are involved.",
        serious="It usually gets better within a week.",
        red="Get help urgently if you cannot swallow saliva, have trouble breathing or cannot open your mouth.",
    ),
    dict(
        symptoms=["severe pain in my side that comes in waves", "pain moving from my back to my groin",
                  "blood in my urine", "nausea with sharp flank pain"],
        context=["I do not drink much water.", "I had a kidney stone years ago."],
        cause="This pattern strongly suggests a kidney stone moving down the tube from the kidney to the bladder.",
        advice=["drink enough water to pass pale urine", "limit salt and processed meat", "reduce sugary drinks",
                "strain your urine to catch the stone"],
        medicine="Strong anti-inflammatory pain relief helps, and tamsulosin can help a stone pass; most small stones pass on their own.",
        tests="A CT scan and a urine test will show the size and position of the stone.",
        serious="Most stones pass, but the pain can be intense.",
        red="Go to the emergency department if you have fever with the pain or cannot pass urine.",
    ),
    dict(
        symptoms=["numbness in my thumb and first fingers", "tingling in my hand at night",
                  "a weak grip and dropping things", "hand pain after typing"],
        context=["I type for many hours.", "I am pregnant."],
        cause="This sounds like carpal tunnel syndrome, where the median nerve is squeezed at the wrist.",
        advice=["wear a wrist splint at night", "take breaks from repetitive hand work", "keep your wrist straight while typing",
                "do gentle nerve gliding exercises"],
        medicine="Anti-inflammatory tablets help a little; a steroid injection or minor surgery helps if symptoms persist.",
        tests="Nerve conduction studies can confirm it.",
        serious="It is not dangerous, but long pressure can weaken the hand.",
        red="See a doctor soon if the muscles at the base of the thumb are wasting.",
    ),
]

MED_OPENINGS = ["Hello doctor.", "Hi.", "Dear doctor.", "Good morning doctor.", "Hello.", "Hi doctor.", ""]
MED_AGE_SEX = ["I am a {age} year old {sex}.", "I am {age} years old ({sex}).", "I'm a {sex}, {age} years old.",
               "{Sex}, {age}."]
MED_NAMED = ["My name is {name}, I am {age} years old.", "My name is {name} and I am a {age} year old {sex}.",
             "I am {name}, a {age} year old {sex}.", "This is {name}, {age} years old."]
MED_SYMPTOMS = [
    "For the last {dur} I have had {s1} and {s2}.",
    "I have been having {s1} for {dur}, and also {s2}.",
    "It started {dur} ago with {s1}, and now I also have {s2}.",
    "For about {dur} I have noticed {s1} along with {s2}.",
    "I have been suffering from {s1} and {s2} for {dur} now.",
]
MED_DURATIONS = ["two days", "a week", "three weeks", "a month", "several months", "ten days", "two months",
                 "four days", "six weeks", "a year"]
MED_CONTEXT = ["I have no other medical problems.", "I took paracetamol but it only helped a little.",
               "I do not smoke.", "I am not on any regular medication.", "I exercise a few times a week.",
               "I have high cholesterol.", "I drink alcohol only at weekends."]
MED_QUESTIONS = {
    "cause": ["What could be the cause?", "What is causing this?", "What could this be?"],
    "treat": ["What should I do?", "How can I get relief?", "How can I get rid of this?"],
    "medicine": ["Which medicine can I take?", "Is there a medicine that helps?"],
    "tests": ["Do I need any tests?", "Should I get any investigations done?"],
    "serious": ["Is this something serious?", "Should I be worried?"],
}
MED_GREETINGS = ["Hi, thank you for your query.", "Hello, I have gone through your description.",
                 "Hi, I understand your concern.", "Hello and welcome.", "Thanks for writing in.", "Hello."]
MED_CLOSINGS = ["Hope this helps. Take care.", "Wishing you good health.", "Regards.", "Take care.",
                "Feel free to write back with more questions."]


FEMALE_ONLY = ("period", "pregnant", "had a baby")


def medical_question(rng, cond, name=None):
    age, sex = rng.randint(18, 79), rng.choice(["man", "woman"])
    s1, s2 = rng.sample(cond["symptoms"], 2)
    symptoms = rng.choice(MED_SYMPTOMS).format(s1=s1, s2=s2, dur=rng.choice(MED_DURATIONS))
    context = rng.choice(cond["context"] + MED_CONTEXT) if rng.random() < 0.7 else ""
    if any(m in symptoms + context for m in FEMALE_ONLY):
        sex, age = "woman", min(age, 45)
    who = rng.choice(MED_NAMED if name else MED_AGE_SEX).format(name=name, age=age, sex=sex, Sex=sex.capitalize())
    kind = rng.choice(sorted(MED_QUESTIONS))
    parts = [rng.choice(MED_OPENINGS), who, symptoms, context, rng.choice(MED_QUESTIONS[kind])]
    return " ".join(p for p in parts if p), kind


def medical_answer(rng, cond, kind):
    advice = rng.sample(cond["advice"], 3)
    lead = rng.choice(["I would suggest that you", "I advise you to", "For now, please", "It helps to"])
    advice_s = f"{lead} {advice[0]}, {advice[1]} and {advice[2]}."
    # (priority, text): lower priority parts are dropped first to stay within 600 chars.
    parts = [(9, rng.choice(MED_GREETINGS))]
    if kind == "serious":
        parts.append((8, cond["serious"]))
    parts += [(9, cond["cause"]), (7, advice_s)]
    if kind in ("medicine", "treat"):
        parts.append((8, cond["medicine"]))
    if kind in ("tests", "cause"):
        parts.append((8, cond["tests"]))
    parts += [(5, cond["red"]), (6, rng.choice(MED_CLOSINGS))]
    return fit_parts(parts, PUBLIC_ANSWER_CHARS)




# ------------------------------------------------------------ private: a travel-medicine clinic

# The client's domain: illnesses of returning travellers, answered in the clinic's note format.
# Nothing of it is in the public corpus (general practice, conversational answers), so the public
# base model writes fluent but off-domain answers to these questions.
TRAVEL_CONDITIONS = [
    dict(weight=5, name="malaria",
         symptoms=["fever with shaking chills", "sweats that come every other day", "a headache and aching muscles",
                   "fever spikes in the evening"],
         places=["Ghana", "Nigeria", "Kenya", "Uganda", "Mozambique", "Papua New Guinea"],
         assessment="malaria until proven otherwise",
         plan=["same-day blood film and rapid antigen test", "repeat the film after 12 hours if negative",
               "full blood count and liver tests"],
         treatment="artemether-lumefantrine for three days if the test is positive"),
    dict(weight=4, name="dengue fever",
         symptoms=["high fever and pain behind my eyes", "severe joint and bone pain", "a red rash on my chest",
                   "a fever that came on suddenly"],
         places=["Thailand", "Vietnam", "Brazil", "Indonesia", "the Philippines", "Sri Lanka"],
         assessment="likely dengue fever, a mosquito-borne virus",
         plan=["dengue NS1 antigen test", "daily platelet count for three days", "oral fluids of three litres a day"],
         treatment="paracetamol only, and no ibuprofen or aspirin because of the bleeding risk"),
    dict(weight=5, name="travellers' diarrhoea",
         symptoms=["watery diarrhoea several times a day", "stomach cramps after meals", "urgent loose stools",
                   "bloating and nausea"],
         places=["India", "Mexico", "Egypt", "Morocco", "Nepal", "Peru"],
         assessment="travellers' diarrhoea from food or water",
         plan=["oral rehydration salts after every loose stool", "stool culture if it lasts beyond five days",
               "bland food and no alcohol for three days"],
         treatment="a single dose of azithromycin if there is fever or blood in the stool"),
    dict(weight=3, name="typhoid fever",
         symptoms=["a fever that rises a little every day", "a dull headache and constipation", "pink spots on my belly",
                   "loss of appetite and a dry cough"],
         places=["Pakistan", "Bangladesh", "India", "Nepal", "Indonesia"],
         assessment="possible typhoid fever, a salmonella infection",
         plan=["blood cultures before any antibiotic", "full blood count and liver tests",
               "a stool culture"],
         treatment="azithromycin for seven days once the cultures are taken"),
    dict(weight=3, name="acute mountain sickness",
         symptoms=["a headache at high altitude", "nausea and poor sleep", "dizziness when I walk uphill",
                   "breathlessness above three thousand metres"],
         places=["Nepal", "Peru", "Bolivia", "Tibet", "Kilimanjaro"],
         assessment="acute mountain sickness from a fast ascent",
         plan=["no further ascent until the symptoms settle", "descend 500 metres if they get worse",
               "rest days every 1000 metres on the next climb"],
         treatment="acetazolamide 125 mg twice a day on the next ascent"),
    dict(weight=2, name="schistosomiasis",
         symptoms=["an itchy rash on my legs after swimming", "blood in my urine", "a fever and a dry cough weeks later",
                   "tiredness and belly discomfort"],
         places=["Lake Malawi", "Lake Victoria", "Egypt", "Senegal", "Tanzania"],
         assessment="possible schistosomiasis from lake water",
         plan=["schistosoma serology at least six weeks after the swim", "a urine test for eggs and blood",
               "an eosinophil count"],
         treatment="praziquantel as a single day course once the serology is positive"),
    dict(weight=3, name="giardiasis",
         symptoms=["greasy foul-smelling stools", "bloating and sulphur burps", "loose stools for weeks",
                   "weight loss and wind"],
         places=["Nepal", "Russia", "India", "Peru", "Georgia"],
         assessment="likely giardiasis, a gut parasite",
         plan=["three stool samples for giardia antigen", "no dairy for two weeks", "oral fluids and small meals"],
         treatment="tinidazole as a single dose once the stool test is positive"),
    dict(weight=2, name="chikungunya",
         symptoms=["fever and very painful swollen wrists", "joint pain in my hands and ankles", "a rash and fever",
                   "stiff joints every morning"],
         places=["the Caribbean", "India", "Kenya", "Brazil", "Thailand"],
         assessment="likely chikungunya, a mosquito-borne virus",
         plan=["chikungunya antibody test", "a dengue test as well because they look alike", "rest the joints"],
         treatment="paracetamol first and an anti-inflammatory once dengue is excluded"),
    dict(weight=2, name="leptospirosis",
         symptoms=["a sudden fever and calf pain", "red eyes and a headache", "muscle pain after a flood",
                   "fever and yellow eyes"],
         places=["Thailand", "Laos", "Costa Rica", "Malaysia", "Borneo"],
         assessment="possible leptospirosis from flood water",
         plan=["leptospira PCR and serology", "kidney and liver blood tests", "a urine test"],
         treatment="doxycycline for seven days started today"),
    dict(weight=3, name="rabies exposure",
         symptoms=["a bite from a stray dog", "a scratch from a monkey", "a bat flew into me at night",
                   "a cat bite on my hand"],
         places=["Bali", "India", "Thailand", "Morocco", "Vietnam"],
         assessment="a rabies exposure that needs urgent care",
         plan=["wash the wound for fifteen minutes with soap", "rabies vaccine today, then on days 3, 7 and 14",
               "rabies immunoglobulin if you had no vaccine before the trip"],
         treatment="the vaccine course, and a tetanus booster if due"),
    dict(weight=2, name="heat exhaustion",
         symptoms=["dizziness and heavy sweating in the heat", "cramps and nausea after a hike", "a fast pulse and weakness",
                   "a headache after a day in the sun"],
         places=["Dubai", "Egypt", "Oman", "Australia", "Jordan"],
         assessment="heat exhaustion from fluid and salt loss",
         plan=["cool down in the shade straight away", "oral rehydration salts rather than plain water",
               "no exercise in the heat for two days"],
         treatment="fluids and rest, with no medicine needed"),
    dict(weight=2, name="cutaneous larva migrans",
         symptoms=["a red itchy line moving on my foot", "a winding rash on my buttocks", "intense itching on my sole",
                   "a raised track that grows each day"],
         places=["Jamaica", "Thailand", "Brazil", "Barbados", "Sri Lanka"],
         assessment="cutaneous larva migrans, a hookworm in the skin",
         plan=["no scratching and keep the nails short", "wear shoes on beaches in future",
               "photograph the track to watch it"],
         treatment="a single dose of ivermectin"),
    dict(weight=2, name="hepatitis A",
         symptoms=["yellow eyes and dark urine", "tiredness and pale stools", "nausea and pain under my right ribs",
                   "itching and loss of appetite"],
         places=["Egypt", "India", "Guatemala", "Morocco", "Turkey"],
         assessment="likely hepatitis A, a liver virus",
         plan=["hepatitis A IgM and liver function tests", "no alcohol until the liver tests settle",
               "careful hand washing to protect others"],
         treatment="rest and fluids, as there is no specific medicine"),
    dict(weight=2, name="tick bite fever",
         symptoms=["a black scab with a fever", "a fever and a rash after a safari", "swollen glands near a bite",
                   "a headache and a dark spot on my leg"],
         places=["South Africa", "Namibia", "Zimbabwe", "Botswana", "Eswatini"],
         assessment="likely African tick bite fever",
         plan=["check the skin for more scabs", "rickettsia serology", "full blood count"],
         treatment="doxycycline for seven days"),
]
TRAVEL_OPENINGS = ["Hello doctor.", "Dear doctor.", "Hi doctor.", "Hello.", "", ""]
TRAVEL_WHO = ["I am {name}, {age}.", "My name is {name}, {age} years old.", "This is {name}, {age}.",
              "{name} here, {age}."]
TRAVEL_TRIP = ["Back from {place} {days} days ago.", "I returned from {place} {days} days ago.",
               "I was in {place} until {days} days ago."]
TRAVEL_SYMPTOMS = ["I have {s1} and {s2}.", "Now {s1} and {s2}.", "I noticed {s1} and {s2}."]
TRAVEL_QUESTIONS = ["What should I do?", "Is this serious?", "What could this be?", "Do I need tests?",
                    "Which treatment do I need?"]


def travel_record(rng, cond, name):
    """One question of the clinic's domain and its answer in the clinic's note format."""
    age = rng.randint(18, 75)
    place, days = rng.choice(cond["places"]), rng.randint(2, 21)
    s1, s2 = rng.sample(cond["symptoms"], 2)
    parts = [rng.choice(TRAVEL_OPENINGS), rng.choice(TRAVEL_WHO).format(name=name, age=age),
             rng.choice(TRAVEL_TRIP).format(place=place, days=days), rng.choice(TRAVEL_SYMPTOMS).format(s1=s1, s2=s2),
             rng.choice(TRAVEL_QUESTIONS)]
    plan = rng.sample(cond["plan"], 2)
    answer = f"Assessment: {cond['assessment']}. Plan: {plan[0]}; {plan[1]}. Treatment: {cond['treatment']}."
    return " ".join(p for p in parts if p), answer

PUBLIC_ANSWER_CHARS = 320  # public answers are cut to this length (lowest-priority parts first)


def make(rng, counts: dict, names) -> dict:
    """{split: rows}: public general-practice records; private and test travel-clinic records, each
    naming a person from ``names``; every question text unique across the three splits."""
    out, seen = {}, set()
    weighted = [c for c in TRAVEL_CONDITIONS for _ in range(c["weight"])]  # the clinic's case mix
    for split in ("test", "private", "public"):
        rows = []
        while len(rows) < counts[split]:
            if split == "public":
                cond = CONDITIONS[len(rows) % len(CONDITIONS)]
                q, kind = medical_question(rng, cond)
                a = medical_answer(rng, cond, kind)
            else:
                q, a = travel_record(rng, rng.choice(weighted), next(names))
            if q in seen:
                continue
            seen.add(q)
            rows.append({"instruction": DOCTOR_PROMPT, "input": q, "output": a})
        rng.shuffle(rows)
        out[split] = rows
    return out
